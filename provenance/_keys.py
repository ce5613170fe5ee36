"""Signing keys: a root CA and an end-entity certificate that c2pa-python accepts for signing.

Layout of a key folder (``provenance keys init``)::

    root-ca.pem        root certificate: the trust anchor verifiers should configure
    root-ca.key        root private key (0600), kept to issue a new signing certificate later
    signing-chain.pem  end-entity certificate followed by the root (what goes into the manifest)
    signing.key        end-entity private key, PKCS#8 PEM (0600), encrypted when a passphrase is set

The end-entity certificate follows the C2PA profile: not a CA, ``digitalSignature`` key usage,
``emailProtection`` extended key usage, ES256 (ECDSA P-256 with SHA-256).
"""
from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from . import _paths
from ._errors import KeyNotFoundError, OutputExistsError, PassphraseError, SigningKeyError

ROOT_CERT = "root-ca.pem"
ROOT_KEY = "root-ca.key"
CHAIN = "signing-chain.pem"
KEY = "signing.key"

_ROOT_YEARS = 10
_LEAF_YEARS = 2


@dataclass(frozen=True)
class CertInfo:
    subject: str
    issuer: str
    not_before: str
    not_after: str
    sha256_fingerprint: str
    serial: str
    is_ca: bool

    @classmethod
    def of(cls, cert: x509.Certificate) -> CertInfo:
        bc = _ext(cert, x509.BasicConstraints)
        return cls(
            subject=cert.subject.rfc4514_string(),
            issuer=cert.issuer.rfc4514_string(),
            not_before=cert.not_valid_before_utc.isoformat(),
            not_after=cert.not_valid_after_utc.isoformat(),
            sha256_fingerprint=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
            serial=format(cert.serial_number, "x"),
            is_ca=bool(bc and bc.ca),
        )


@dataclass
class SigningIdentity:
    """What signing needs: the chain (leaf first), the private key and the algorithm name."""

    chain_pem: bytes
    key_pem: bytes  # unencrypted PKCS#8, in memory only
    alg: str  # c2pa algorithm name: es256, es384, es512, ps256, ed25519
    leaf: CertInfo
    anchors_pem: bytes = b""  # the root(s) to trust when verifying our own output

    @property
    def signer_name(self) -> str:
        return self.leaf.subject


def _ext(cert: x509.Certificate, kind):
    try:
        return cert.extensions.get_extension_for_class(kind).value
    except x509.ExtensionNotFound:
        return None


def _write_private(path: Path, data: bytes, *, mode: int = 0o600) -> None:
    """Create ``path`` with ``mode`` from the first byte (no window where a key is world-readable),
    set explicitly: the umask could make it looser (``umask 000``) or stricter than meant."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as fh:
        os.fchmod(fh.fileno(), mode)
        fh.write(data)


def _write_public(path: Path, data: bytes) -> None:
    """A certificate: 0644, whatever the umask."""
    _write_private(path, data, mode=0o644)


def _encryption(passphrase: str | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase.encode())
    return serialization.NoEncryption()


def _name(org: str, cn: str) -> x509.Name:
    return x509.Name([
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        x509.NameAttribute(NameOID.COMMON_NAME, cn),
    ])


def _key_usage(*, signing: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signing, content_commitment=False, key_encipherment=False,
        data_encipherment=False, key_agreement=False, key_cert_sign=not signing,
        crl_sign=not signing, encipher_only=False, decipher_only=False,
    )


def create_chain(org: str, *, now: dt.datetime | None = None):
    """Make a root CA and an ES256 signing certificate for ``org``. Returns (root_key, root, key, leaf)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    start = now - dt.timedelta(minutes=5)  # tolerate small clock skew between signer and verifier
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(org, f"{org} Provenance Root CA")
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name).issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(now + dt.timedelta(days=365 * _ROOT_YEARS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(signing=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name(org, f"{org} Content Signer")).issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start).not_valid_after(now + dt.timedelta(days=365 * _LEAF_YEARS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(signing=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )
    return root_key, root, key, leaf


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def init_keys(*, org: str, directory: Path | None = None, passphrase: str | None = None,
              overwrite: bool = False) -> Path:
    """Create a root CA and signing certificate in ``directory`` (default: the keys dir)."""
    directory = Path(directory or _paths.keys_dir())
    _prepare_dir(directory, overwrite)
    root_key, root, key, leaf = create_chain(org)
    enc = _encryption(passphrase)
    pkcs8 = serialization.PrivateFormat.PKCS8
    _write_private(directory / ROOT_KEY, root_key.private_bytes(serialization.Encoding.PEM, pkcs8, enc))
    _write_private(directory / KEY, key.private_bytes(serialization.Encoding.PEM, pkcs8, enc))
    _write_public(directory / ROOT_CERT, _pem(root))
    _write_public(directory / CHAIN, _pem(leaf) + _pem(root))
    return directory


def import_keys(*, cert: Path, key: Path, directory: Path | None = None,
                passphrase: str | None = None, overwrite: bool = False) -> Path:
    """Copy a user's own key and chain into the keys folder after checking they belong together."""
    identity = load_identity(cert=cert, key=key, passphrase=passphrase)
    directory = Path(directory or _paths.keys_dir())
    _prepare_dir(directory, overwrite)
    _write_private(directory / KEY, Path(key).read_bytes())
    _write_public(directory / CHAIN, identity.chain_pem)
    certs = x509.load_pem_x509_certificates(identity.chain_pem)
    if len(certs) > 1:
        _write_public(directory / ROOT_CERT, _pem(certs[-1]))
    return directory


def _prepare_dir(directory: Path, overwrite: bool) -> None:
    _paths.ensure_private_dir(directory)  # PROVENANCE_HOME too, when this creates it
    os.chmod(directory, 0o700)
    existing = [n for n in (ROOT_CERT, ROOT_KEY, CHAIN, KEY) if (directory / n).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{directory}: keys already exist ({', '.join(existing)}); pass --overwrite to replace them"
        )
    for n in existing:
        (directory / n).unlink()


def _alg_for(private_key) -> str:
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(private_key.curve.name, "")
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "ps256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    return ""


def _load_private_key(path: Path, passphrase: str | None):
    data = path.read_bytes()
    try:
        return serialization.load_pem_private_key(data, password=passphrase.encode() if passphrase else None)
    except TypeError as e:
        if passphrase:
            raise PassphraseError(f"{path}: this key is not encrypted; do not pass a passphrase") from e
        raise PassphraseError(
            f"{path}: the private key is encrypted; give its passphrase "
            "(--passphrase-file FILE or the PROVENANCE_KEY_PASSPHRASE environment variable)"
        ) from e
    except ValueError as e:
        if passphrase and b"ENCRYPTED" in data:
            raise PassphraseError(f"{path}: wrong passphrase for the private key") from e
        raise SigningKeyError(f"{path}: not a PEM private key ({e})") from e
    except UnsupportedAlgorithm as e:
        raise SigningKeyError(f"{path}: unsupported key type ({e})") from e


def load_identity(*, cert: Path | None = None, key: Path | None = None, passphrase: str | None = None,
                  directory: Path | None = None) -> SigningIdentity:
    """Load the signing key and chain: an explicit pair, or the keys folder."""
    if (cert is None) != (key is None):
        raise SigningKeyError("give both --cert and --key, or neither")
    if cert is None:
        directory = Path(directory or _paths.keys_dir())
        cert, key = directory / CHAIN, directory / KEY
        if not key.exists() or not cert.exists():
            raise KeyNotFoundError(
                f"no signing key in {directory}; create one with `provenance keys init --org NAME` "
                "(or pass --cert and --key, or set PROVENANCE_HOME)"
            )
        anchors_path = directory / ROOT_CERT
    else:
        anchors_path = None
    cert, key = Path(cert), Path(key)
    for p in (cert, key):
        if not p.is_file():
            raise KeyNotFoundError(f"{p}: no such file")
    private_key = _load_private_key(key, passphrase)
    try:
        certs = x509.load_pem_x509_certificates(cert.read_bytes())
    except ValueError as e:
        raise SigningKeyError(f"{cert}: not a PEM certificate chain ({e})") from e
    leaf = certs[0]
    pub = private_key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    if pub != leaf.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo):
        raise SigningKeyError(f"{key} does not match the first certificate in {cert}")
    alg = _alg_for(private_key)
    if not alg:
        raise SigningKeyError(f"{key}: key type is not one C2PA signs with (ES256/384/512, PS256, Ed25519)")
    bc = _ext(leaf, x509.BasicConstraints)
    if bc is not None and bc.ca:
        raise SigningKeyError(f"{cert}: the signing certificate is a CA; C2PA needs an end-entity certificate")
    key_pem = private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    anchors = anchors_path.read_bytes() if anchors_path and anchors_path.exists() else (_pem(certs[-1]) if len(certs) > 1 else b"")
    return SigningIdentity(
        chain_pem=b"".join(_pem(c) for c in certs),
        key_pem=key_pem,
        alg=alg,
        leaf=CertInfo.of(leaf),
        anchors_pem=anchors,
    )


def describe_keys(directory: Path | None = None) -> dict:
    """What ``keys show`` prints: every certificate's subject, issuer, validity and fingerprint."""
    directory = Path(directory or _paths.keys_dir())
    chain_path = directory / CHAIN
    if not chain_path.exists():
        raise KeyNotFoundError(f"no signing key in {directory}; create one with `provenance keys init --org NAME`")
    certs = x509.load_pem_x509_certificates(chain_path.read_bytes())
    key_path = directory / KEY
    key_head = key_path.read_bytes()[:64] if key_path.exists() else b""
    return {
        "directory": str(directory),
        "key_file": str(key_path),
        "key_mode": oct(key_path.stat().st_mode & 0o777) if key_path.exists() else None,
        "key_encrypted": b"ENCRYPTED" in key_head,
        "trust_anchor": str(directory / ROOT_CERT) if (directory / ROOT_CERT).exists() else None,
        "certificates": [CertInfo.of(c).__dict__ for c in certs],
    }
