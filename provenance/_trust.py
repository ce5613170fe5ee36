"""Trust anchors for verification: the tool's own root CA, a configured file, ``--trust`` files,
and the public C2PA trust lists shipped as dated package data (``provenance/trust/``).

Every anchor belongs to one named *source*: ``own root`` (the keys folder's root CA),
``trust-anchors.pem`` (the configured file), ``--trust`` (files given on the command line),
``C2PA Trust List`` and ``interim list`` (the public lists, shipped or installed by
``provenance trust update``). c2pa-rs says whether a signer is trusted, not by which anchor, so
:func:`anchoring_source` asks it again with one source at a time (only for a trusted manifest);
the report names that source (``c2pa.anchored_by``). The interim list's ``store.cfg`` names the
extended key usages accepted in a signing certificate (e.g. Microsoft's C2PA signing EKU); they
are always passed to c2pa-rs, with or without the public anchors.
"""
from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from . import _paths
from ._errors import SigningKeyError, TrustListError
from ._keys import ROOT_CERT

#: The index of the shipped public lists (names, files, snapshot dates, sources).
LISTS_INDEX = "provenance/trust/lists.json"
#: What ``trust update`` records about each installed file, in :func:`provenance._paths.trust_dir`.
INSTALLED_INDEX = "installed.json"
#: The public lists whose anchors may trust a claim signer (the TSA list is for timestamps).
CLAIM_LISTS = ("c2pa", "interim")
_OID = re.compile(r"^[0-2](\.\d+)+$")


def _read_pem_certs(path: Path) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(path.read_bytes())
    except FileNotFoundError as e:
        raise SigningKeyError(f"{path}: trust anchor file not found") from e
    except (OSError, ValueError) as e:
        raise SigningKeyError(f"{path}: not a PEM certificate file ({e})") from e
    return certs


def _pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def trust_anchors(extra: list[str | Path] | None = None, *, include_defaults: bool = True) -> tuple[bytes, list[str]]:
    """PEM bundle of every local anchor (own root, the configured file, ``extra``), and the files
    it came from (missing default files are skipped). The public lists are added by verify
    itself (``VerifyOptions.public_trust``)."""
    sources: list[Path] = []
    if include_defaults:
        sources += [p for p in (_paths.keys_dir() / ROOT_CERT, _paths.trust_file()) if p.is_file()]
    sources += [Path(p) for p in (extra or [])]
    pem = b""
    for path in sources:
        pem += _pem(_read_pem_certs(path))
    return pem, [str(p) for p in sources]


# --- the public lists ---

@dataclass(frozen=True)
class TrustList:
    """One public list as verify uses it: each of its files, shipped or installed."""

    id: str
    name: str
    purpose: str
    snapshot: str
    source: str
    files: dict[str, Path]  # role (anchors | allowed | ekus) -> the file in use
    installed: dict[str, dict] = field(default_factory=dict)  # role -> what trust update recorded
    frozen: str | None = None  # the list anchors only content signed before this date (the interim list)

    @property
    def since(self) -> str:
        """When what is trusted now came: the shipped snapshot's date, or the latest installation."""
        times = [i["installed_at"] for i in self.installed.values()]
        return max(times) if times else self.snapshot

    @property
    def version(self) -> str:
        frozen = f", frozen {self.frozen}" if self.frozen else ""
        if not self.installed:
            return f"shipped snapshot {self.snapshot}{frozen}"
        return f"installed {self.since} (shipped snapshot {self.snapshot}{frozen})"

    def read(self, role: str) -> bytes:
        path = self.files.get(role)
        return path.read_bytes() if path is not None else b""


def _index() -> dict:
    from ._data_files import load_json

    return load_json(LISTS_INDEX)


def _installed() -> dict[str, dict]:
    path = _paths.trust_dir() / INSTALLED_INDEX
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        raise TrustListError(f"{path}: unreadable ({e}); remove it and run 'provenance trust update' again") from e


def public_lists() -> list[TrustList]:
    """The shipped lists, each file replaced by its installed copy when ``trust update`` installed one."""
    from ._data_files import data_file

    installed = _installed()
    lists = []
    for row in _index()["lists"]:
        files, mine = {}, {}
        for role, name in row["files"].items():
            local = _paths.trust_dir() / name
            if name in installed and local.is_file():
                files[role], mine[role] = local, installed[name]
            else:
                files[role] = data_file(f"provenance/trust/{name}")
        lists.append(TrustList(id=row["id"], name=row["name"], purpose=row["purpose"], snapshot=row["snapshot"],
                               source=row["source"], files=files, installed=mine, frozen=row.get("frozen")))
    return lists


def known_files() -> dict[str, tuple[str, str]]:
    """File name -> (list id, role) for every file of the public lists."""
    return {name: (row["id"], role) for row in _index()["lists"] for role, name in row["files"].items()}


def _check_list_file(path: Path, role: str, data: bytes) -> str:
    """What the file holds, or TrustListError: PEM certificates (anchors, allowed) or EKU OIDs."""
    if role == "ekus":
        try:
            lines = [ln.strip() for ln in data.decode("utf-8").splitlines()]
        except UnicodeDecodeError as e:
            raise TrustListError(f"{path}: not a text file of EKU OIDs") from e
        oids = [ln for ln in lines if ln and not ln.startswith("//")]
        bad = [ln for ln in oids if not _OID.match(ln)]
        if bad or not oids:
            raise TrustListError(f"{path}: expected one dotted OID a line ('//' comments), got {bad[:1] or 'none'}")
        return f"{len(oids)} extended key usages"
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise TrustListError(f"{path}: not a PEM certificate file ({e})") from e
    if not certs:
        raise TrustListError(f"{path}: holds no certificate")
    return f"{len(certs)} certificates"


def install_lists(files: list[str | Path], *, now: dt.datetime | None = None) -> list[dict]:
    """Install newer copies of public list files (recognised by their published names, e.g.
    ``C2PA-TRUST-LIST.pem``) into the trust folder; from then on they replace the shipped ones.
    Every file is checked before any is written; each is written atomically."""
    from ._imageio import atomic_write

    known = {name.lower(): name for name in known_files()}
    when = (now or dt.datetime.now(dt.timezone.utc)).replace(microsecond=0).isoformat()
    staged = []
    for f in files:
        path = Path(f)
        name = known.get(path.name.lower())
        if name is None:
            raise TrustListError(f"{path}: not a trust list file this tool knows; name it as published: "
                                 + ", ".join(sorted(known.values())))
        try:
            data = path.read_bytes()
        except OSError as e:
            raise TrustListError(f"{path}: cannot read ({e.strerror or e})") from e
        staged.append((path, name, data, _check_list_file(path, known_files()[name][1], data)))
    installed = _installed()
    folder = _paths.ensure_private_dir(_paths.trust_dir())
    done = []
    for path, name, data, what in staged:
        digest = hashlib.sha256(data).hexdigest()
        previous = installed.get(name, {}).get("sha256")
        atomic_write(folder / name, data, overwrite=True)
        if previous != digest:
            installed[name] = {"installed_at": when, "sha256": digest, "from": str(path.resolve())}
        list_id, role = known_files()[name]
        done.append({"file": name, "list": list_id, "role": role, "holds": what,
                     "changed": previous != digest, "installed_at": installed[name]["installed_at"]})
    atomic_write(folder / INSTALLED_INDEX, (json.dumps(installed, indent=2, sort_keys=True) + "\n").encode(),
                 overwrite=True)
    return done


# --- what verify trusts ---

@dataclass(frozen=True)
class AnchorSource:
    """One named set of anchors (and pinned end-entity certificates) that can trust a signer."""

    label: str  # own root | trust-anchors.pem | --trust | C2PA Trust List | interim list
    version: str  # when/what: a snapshot date, an installation time, a file
    anchors_pem: bytes
    allowed_pem: bytes = b""
    frozen: str | None = None  # ISO date: anchors only signatures timestamped before it

    def refuses(self, signed_at: str | None) -> str | None:
        """Why this source does not anchor a signature timestamped ``signed_at`` (after the list
        froze), else None. Without a timestamp the signing time is unknown: the list applies."""
        if not self.frozen or not signed_at:
            return None
        try:
            when = dt.datetime.fromisoformat(str(signed_at).replace("Z", "+00:00"))
        except ValueError:
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.timezone.utc)
        limit = dt.datetime.fromisoformat(self.frozen).replace(tzinfo=dt.timezone.utc)
        if when < limit:
            return None
        return f"signed {when.date().isoformat()}, after the {self.label} froze on {self.frozen}"

    def to_dict(self) -> dict:
        return {"list": self.label, "version": self.version}


@dataclass(frozen=True)
class TrustConfig:
    """The trust settings c2pa-rs reads, and the named sources they were made of."""

    sources: tuple[AnchorSource, ...]
    ekus: str  # store.cfg text: accepted extended key usages

    def settings(self, only: AnchorSource | None = None) -> dict:
        """c2pa-rs's ``trust`` settings: every source, or ``only`` one."""
        chosen = (only,) if only is not None else self.sources
        anchors = b"".join(s.anchors_pem for s in chosen)
        allowed = b"".join(s.allowed_pem for s in chosen)
        out = {"trust_config": self.ekus} if self.ekus else {}
        if anchors:
            out["trust_anchors"] = anchors.decode()
        if allowed:
            out["allowed_list"] = allowed.decode()
        return out

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha256(self.ekus.encode())
        for s in self.sources:
            h.update(s.label.encode() + b"\0" + s.anchors_pem + b"\0" + s.allowed_pem + b"\0")
        return h.hexdigest()


def _der_set(path: Path) -> set[bytes]:
    try:
        return {c.public_bytes(serialization.Encoding.DER) for c in x509.load_pem_x509_certificates(path.read_bytes())}
    except (OSError, ValueError):
        return set()


def _local_sources(pem: bytes) -> list[AnchorSource]:
    """Split the local bundle by where each anchor came from: own root, the configured file, ``--trust``."""
    if not pem:
        return []
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as e:
        raise SigningKeyError(f"trust anchors are not PEM certificates ({e})") from e
    root_file, conf_file = _paths.keys_dir() / ROOT_CERT, _paths.trust_file()
    own, conf = _der_set(root_file), _der_set(conf_file)
    groups: dict[str, list] = {"own root": [], "trust-anchors.pem": [], "--trust": []}
    for c in certs:
        der = c.public_bytes(serialization.Encoding.DER)
        groups["own root" if der in own else "trust-anchors.pem" if der in conf else "--trust"].append(c)
    versions = {"own root": str(root_file), "trust-anchors.pem": str(conf_file), "--trust": "given on the command line"}
    return [AnchorSource(label, versions[label], _pem(cs)) for label, cs in groups.items() if cs]


def _state_key() -> tuple:
    """What, if it changed, changes the public lists in use (their installed copies)."""
    folder = _paths.trust_dir()
    try:
        return (str(folder), tuple(sorted((p.name, p.stat().st_mtime_ns) for p in folder.iterdir())))
    except OSError:
        return (str(folder), ())


def _pinned(pem: bytes) -> bytes:
    """Pinned end-entity certificates as c2pa-rs also takes them: base64 sha256 of each DER, one a
    line (half the cost of parsing the PEMs on every read)."""
    import base64

    if not pem:
        return b""
    return b"".join(base64.b64encode(hashlib.sha256(c.public_bytes(serialization.Encoding.DER)).digest()) + b"\n"
                    for c in x509.load_pem_x509_certificates(pem))


@functools.lru_cache(maxsize=16)
def _public(state: tuple) -> tuple[tuple[AnchorSource, ...], str]:
    lists = {t.id: t for t in public_lists()}
    sources = tuple(AnchorSource(lists[i].name, lists[i].version, lists[i].read("anchors"),
                                 _pinned(lists[i].read("allowed")), lists[i].frozen) for i in CLAIM_LISTS)
    return sources, lists["interim"].read("ekus").decode("utf-8")


@functools.lru_cache(maxsize=16)
def _config(pem: bytes, public: bool, state: tuple, own: tuple) -> TrustConfig:
    sources, ekus = _public(state)
    return TrustConfig(sources=tuple(_local_sources(pem)) + (sources if public else ()), ekus=ekus)


def trust_config(local_pem: bytes = b"", *, public: bool = True) -> TrustConfig:
    """What verify trusts: the local anchors (split by source) and, unless ``public`` is False,
    the public C2PA lists; the interim list's accepted EKUs either way."""
    own = tuple(str(p.stat().st_mtime_ns) if p.is_file() else "" for p in
                (_paths.keys_dir() / ROOT_CERT, _paths.trust_file()))
    return _config(local_pem or b"", public, _state_key(), own)


def trust_fingerprint(local_pem: bytes = b"", *, public: bool = True) -> str:
    """What, if it changed, changes a trust verdict (the audit cache's key): the local anchors as
    given (not parsed: a bad bundle fails when verifying, not here), and the public lists in use."""
    sources, ekus = _public(_state_key())
    h = hashlib.sha256(b"local\0" + (local_pem or b"") + b"\0ekus\0" + ekus.encode())
    for s in sources if public else ():
        h.update(s.label.encode() + b"\0" + s.anchors_pem + b"\0" + s.allowed_pem + b"\0")
    return h.hexdigest()


def anchoring_source(config: TrustConfig, trusted_with: callable) -> AnchorSource | None:
    """The first source that alone trusts the signer; ``trusted_with(settings)`` re-reads the
    manifest with those trust settings and says whether c2pa-rs called the signer trusted."""
    if len(config.sources) == 1:
        return config.sources[0]
    for source in config.sources:
        if trusted_with(config.settings(only=source)):
            return source
    return None


# --- trust show ---

def _cert_row(cert: x509.Certificate) -> dict:
    def attr(name, oid):
        values = name.get_attributes_for_oid(oid)
        return values[0].value if values else None

    from cryptography.x509.oid import NameOID

    return {"subject": attr(cert.subject, NameOID.COMMON_NAME) or cert.subject.rfc4514_string(),
            "organization": attr(cert.subject, NameOID.ORGANIZATION_NAME),
            "not_before": cert.not_valid_before_utc.date().isoformat(),
            "not_after": cert.not_valid_after_utc.date().isoformat(),
            "sha256": cert.fingerprint(hashes.SHA256()).hex()}


def _file_since(path: Path) -> str:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc).replace(microsecond=0).isoformat()


def describe_trust(extra: list[str | Path] | None = None, *, public: bool = True) -> list[dict]:
    """Every source verify would trust now, with its anchors and since when (``trust show``)."""
    out = []
    local = [("own root", _paths.keys_dir() / ROOT_CERT), ("trust-anchors.pem", _paths.trust_file())]
    local += [("--trust", Path(p)) for p in extra or []]
    for label, path in local:
        if label != "--trust" and not path.is_file():
            continue
        certs = _read_pem_certs(path)
        out.append({"list": label, "file": str(path), "since": _file_since(path), "purpose": "claim signing",
                    "anchors": [_cert_row(c) for c in certs], "allowed": []})
    if public:
        for t in public_lists():
            anchors = x509.load_pem_x509_certificates(t.read("anchors"))
            allowed = x509.load_pem_x509_certificates(t.read("allowed")) if "allowed" in t.files else []
            ekus = [ln.strip() for ln in t.read("ekus").decode().splitlines()
                    if ln.strip() and not ln.strip().startswith("//")] if "ekus" in t.files else []
            out.append({"list": t.name, "id": t.id, "since": t.since, "version": t.version, "purpose": t.purpose,
                        "source": t.source, "files": {r: str(p) for r, p in t.files.items()},
                        "anchors": [_cert_row(c) for c in anchors], "allowed": [_cert_row(c) for c in allowed],
                        **({"ekus": ekus} if ekus else {})})
    return out
