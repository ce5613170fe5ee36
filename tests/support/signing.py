"""Certificates and manifests the tests make: a CA and signing certificate for any organisation
(any EKU, any lifetime: an expired one is a short-lived certificate waited out), and an image
signed with c2pa-python's Builder under a manifest the test writes in a service's shape."""
from __future__ import annotations

import datetime as dt
import io
import time

import c2pa
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier
from PIL import Image

from . import natural_image

MS_C2PA_EKU = "1.3.6.1.4.1.311.76.59.1.9"  # Microsoft's C2PA signing EKU (the interim list's store.cfg)


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org), x509.NameAttribute(NameOID.COMMON_NAME, cn)])


class MakerCA:
    """A root CA for ``org`` that issues signing certificates."""

    def __init__(self, org: str):
        now = dt.datetime.now(dt.timezone.utc)
        self.org = org
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(f"{org} Root CA", org)
        self.cert = (
            x509.CertificateBuilder().subject_name(self.name).issuer_name(self.name)
            .public_key(self.key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def signer(self, cn: str, *, eku: str | None = None, seconds: float | None = None) -> tuple[bytes, bytes]:
        """(chain PEM, key PEM) of a signing certificate ``cn``: EKU emailProtection unless ``eku``
        (a dotted OID); valid a year, or ``seconds`` from now."""
        now = dt.datetime.now(dt.timezone.utc)
        key = ec.generate_private_key(ec.SECP256R1())
        usage = ObjectIdentifier(eku) if eku else ExtendedKeyUsageOID.EMAIL_PROTECTION
        leaf = (
            x509.CertificateBuilder().subject_name(_name(cn, self.org)).issuer_name(self.name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + (dt.timedelta(seconds=seconds) if seconds else dt.timedelta(days=365)))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256()))
        chain = leaf.public_bytes(serialization.Encoding.PEM) + self.pem
        return chain, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption())


def jpeg_bytes(seed: int = 0, size: int = 256, exif: bytes | None = None) -> bytes:
    buf = io.BytesIO()
    img = Image.fromarray(natural_image(size, size, seed=seed))
    img.save(buf, "JPEG", quality=92, **({"exif": exif} if exif else {}))
    return buf.getvalue()


def sign_image(manifest: dict, chain: bytes, key: bytes, data: bytes | None = None, *, mime: str = "image/jpeg",
               parent: bytes | None = None) -> bytes:
    """``data`` (a fresh JPEG by default) signed under ``manifest``; ``parent``: a signed image added
    as the parentOf ingredient (labelled ``parent``)."""
    ctx = c2pa.Context(settings=c2pa.Settings.from_dict({
        "builder": {"thumbnail": {"enabled": False}},
        "verify": {"verify_after_sign": False, "remote_manifest_fetch": False, "ocsp_fetch": False}}))
    builder = c2pa.Builder(manifest, context=ctx)
    if parent is not None:
        builder.add_ingredient({"title": "parent.jpg", "relationship": "parentOf", "label": "parent"},
                               "image/jpeg", io.BytesIO(parent))
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=key, ta_url=None))
    out = io.BytesIO()
    with builder, signer:
        builder.sign(signer, mime, io.BytesIO(data if data is not None else jpeg_bytes()), out)
    return out.getvalue()


def wait_until_expired(seconds: float) -> None:
    time.sleep(seconds + 1.0)
