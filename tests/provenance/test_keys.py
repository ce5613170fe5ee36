"""Signing keys: the certificate profile C2PA needs, file modes, passphrases, bring-your-own."""
from __future__ import annotations

import stat

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from provenance import (
    KeyNotFoundError,
    OutputExistsError,
    PassphraseError,
    SigningKeyError,
    describe_keys,
    import_keys,
    init_keys,
    load_identity,
)
from provenance._keys import CHAIN, KEY, ROOT_CERT, ROOT_KEY, create_chain


def test_init_writes_private_keys_0600(home):
    """Both private keys are created with mode 0600 and the folder 0700."""
    d = init_keys(org="Acme")
    for name in (KEY, ROOT_KEY):
        assert stat.S_IMODE((d / name).stat().st_mode) == 0o600
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert d == home / "keys"


def test_leaf_certificate_follows_the_c2pa_profile(home):
    """The signing cert is not a CA, has digitalSignature and emailProtection, and chains to the root."""
    d = init_keys(org="Acme News")
    leaf, root = x509.load_pem_x509_certificates((d / CHAIN).read_bytes())
    assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and not ku.key_cert_sign
    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.EMAIL_PROTECTION in eku
    assert isinstance(leaf.public_key(), ec.EllipticCurvePublicKey) and leaf.public_key().curve.name == "secp256r1"
    assert leaf.issuer == root.subject
    leaf.verify_directly_issued_by(root)
    assert "Acme News" in leaf.subject.rfc4514_string()
    assert (d / ROOT_CERT).read_bytes() in (d / CHAIN).read_bytes()


def test_init_refuses_to_overwrite(home):
    """Existing keys are never replaced without overwrite=True."""
    init_keys(org="A")
    before = (home / "keys" / KEY).read_bytes()
    with pytest.raises(OutputExistsError, match="--overwrite"):
        init_keys(org="B")
    assert (home / "keys" / KEY).read_bytes() == before
    init_keys(org="B", overwrite=True)
    assert (home / "keys" / KEY).read_bytes() != before


def test_passphrase_protects_the_key(home):
    """An encrypted key loads with its passphrase and fails clearly without it or with a wrong one."""
    init_keys(org="A", passphrase="correct horse")
    assert b"ENCRYPTED" in (home / "keys" / KEY).read_bytes()
    assert load_identity(passphrase="correct horse").alg == "es256"
    with pytest.raises(PassphraseError, match="encrypted"):
        load_identity()
    with pytest.raises(PassphraseError, match="wrong passphrase"):
        load_identity(passphrase="battery staple")


def test_missing_key_says_how_to_create_one(home):
    """Without keys the error names the command that creates them."""
    with pytest.raises(KeyNotFoundError, match="provenance keys init"):
        load_identity()


def test_describe_keys(home):
    """keys show data: subject, issuer, validity, fingerprint of leaf and root."""
    init_keys(org="Acme")
    info = describe_keys()
    assert info["key_mode"] == "0o600" and info["key_encrypted"] is False
    leaf, root = info["certificates"]
    assert "Acme" in leaf["subject"] and leaf["issuer"] == root["subject"]
    assert root["is_ca"] and not leaf["is_ca"]
    assert len(leaf["sha256_fingerprint"].split(":")) == 32
    assert leaf["not_before"] < leaf["not_after"]


def _write_pair(tmp_path, org="Own"):
    root_key, root, key, leaf = create_chain(org)
    chain = tmp_path / "chain.pem"
    chain.write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + root.public_bytes(serialization.Encoding.PEM))
    keyfile = tmp_path / "key.pem"
    keyfile.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption()))
    return chain, keyfile, root


def test_bring_your_own_key(home, tmp_path):
    """A user's own key and chain load directly and import into the keys folder."""
    chain, keyfile, root = _write_pair(tmp_path)
    ident = load_identity(cert=chain, key=keyfile)
    assert "Own" in ident.signer_name
    d = import_keys(cert=chain, key=keyfile)
    assert stat.S_IMODE((d / KEY).stat().st_mode) == 0o600
    assert load_identity().leaf == ident.leaf


def test_mismatched_key_and_certificate(home, tmp_path):
    """A key that does not belong to the certificate is refused."""
    (tmp_path / "a").mkdir()
    chain, _, _ = _write_pair(tmp_path / "a")
    other = tmp_path / "b"
    other.mkdir()
    _, other_key, _ = _write_pair(other)
    with pytest.raises(SigningKeyError, match="does not match"):
        load_identity(cert=chain, key=other_key)


def test_ca_certificate_cannot_sign(home, tmp_path):
    """A CA certificate as the signing certificate is refused (C2PA needs an end-entity cert)."""
    root_key, root, _, _ = create_chain("X")
    cert = tmp_path / "root.pem"
    cert.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    key = tmp_path / "root.key"
    key.write_bytes(root_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    with pytest.raises(SigningKeyError, match="CA"):
        load_identity(cert=cert, key=key)


def test_garbage_key_file(home, tmp_path):
    """A file that is not a PEM key gives a clear error."""
    chain, _, _ = _write_pair(tmp_path)
    bad = tmp_path / "bad.pem"
    bad.write_text("not a key")
    with pytest.raises(SigningKeyError, match="not a PEM private key"):
        load_identity(cert=chain, key=bad)
