"""What every command shares: exit codes, the usage error, JSON output, the passphrase and signing
identity, and the options several commands take (``--json``, key files, verify's options)."""
from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path
from typing import Callable

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_FLAGGED = 0, 1, 2, 3


EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report a command stopped by Ctrl-C

PASSPHRASE_ENV = "PROVENANCE_KEY_PASSPHRASE"


class UsageError(Exception):
    """A mistake in the command line that argparse cannot see (exit code 2)."""


def print_json(obj) -> None:
    from provenance import dumps_json

    sys.stdout.write(dumps_json(obj, indent=2, default=str) + "\n")


def passphrase(args) -> str | None:
    """The key's passphrase from ``--passphrase-file`` or the environment. A passphrase file that
    other users can read is refused, as ssh refuses such a private key: the passphrase is only as
    secret as the file."""
    from provenance import PassphraseError

    path = getattr(args, "passphrase_file", None)
    if path:
        try:
            mode = os.stat(path).st_mode
            if os.name == "posix" and mode & 0o077:
                raise PassphraseError(f"--passphrase-file {path}: readable by other users (mode {mode & 0o777:o}); "
                                      f"make it private first: chmod 600 {path}")
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as e:
            raise UsageError(f"--passphrase-file {path}: cannot read ({e.strerror or e})") from e
    return os.environ.get(PASSPHRASE_ENV) or None


def signing_identity(args):
    from provenance import load_identity

    cert, key = getattr(args, "cert", None), getattr(args, "key", None)
    return load_identity(cert=Path(cert) if cert else None, key=Path(key) if key else None,
                         passphrase=passphrase(args))


FAIL_ON = ("ai", "tampered", "invalid", "error", "unknown")

#: audit can also fail on images it did not analyse (hidden ones with --skip-hidden, links not followed).
AUDIT_FAIL_ON = FAIL_ON + ("skipped",)


def fail_on_parser(choices: tuple[str, ...]) -> Callable[[str], set[str]]:
    def parse(text: str) -> set[str]:
        chosen = {t.strip() for t in text.split(",") if t.strip()}
        bad = chosen - set(choices)
        if bad or not chosen:
            raise argparse.ArgumentTypeError(f"choose from {','.join(choices)}; got {text!r}")
        return chosen
    return parse


class Formatter(argparse.RawDescriptionHelpFormatter):
    pass


def quality(text: str) -> int:
    try:
        q = int(text)
    except ValueError:
        q = 0
    if not 1 <= q <= 100:
        raise argparse.ArgumentTypeError(f"quality must be an integer from 1 to 100, got {text!r}")
    return q


def add_group(subparsers, name: str, help: str, example: str, *, dest: str):
    """A command with actions of its own (``keys init``, ``keys show``): returns their subparsers."""
    p = subparsers.add_parser(name, help=help, description=help, epilog=f"example:\n  {example}",
                              formatter_class=Formatter)
    return p.add_subparsers(dest=dest, metavar="ACTION", required=True)


def add_command(subparsers, name: str, func: Callable[[argparse.Namespace], int], help: str, example: str):
    # ``help`` is %-formatted by argparse (so "1%%" there), the description is printed as written.
    p = subparsers.add_parser(name, help=help, description=help.replace("%%", "%"), epilog=f"example:\n  {example}",
                              formatter_class=Formatter)
    p.set_defaults(func=func)
    return p


def add_json(p) -> None:
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def add_verify_options(p, *, fail_on: tuple[str, ...] = FAIL_ON) -> None:
    """Options shared by verify and audit (audit runs verify on every file)."""
    from provenance.watermark import method_names

    p.add_argument("--trust", action="append", metavar="PEM",
                   help="extra trust anchors (repeatable); the tool's own root CA is always trusted")
    p.add_argument("--no-public-trust", action="store_true",
                   help="do not trust the public C2PA lists (the C2PA Trust List and the interim list, shipped "
                        "or installed by 'provenance trust update'); the interim list's accepted EKUs still apply")
    p.add_argument("--fail-on", type=fail_on_parser(fail_on), default=set(), metavar="LIST",
                   help=f"exit 3 when any file is flagged: comma-separated from {','.join(fail_on)}")
    p.add_argument("--method", action="append", choices=method_names(),
                   help="only these of our watermark methods (default: every one but rivaGan, which is "
                        "slow and must be named)")
    add_fast(p)
    add_registry_option(p)
    p.add_argument("--no-registry", action="store_true", help="skip the registry lookup")
    p.add_argument("--no-forensics", action="store_true", help="skip the forensic classifier")
    p.add_argument("--resolver", action="append", metavar="URL",
                   help="a C2PA Soft Binding Resolution service to recover the Content Credentials of a copy "
                        "whose metadata is gone (repeatable; default: $PROVENANCE_RESOLVERS, else none: no request "
                        "leaves this machine)")
    p.add_argument("--resolver-timeout", type=float, default=5.0, metavar="S",
                   help="seconds each resolver may take for one file, all its requests together (default 5)")
    add_max_pixels(p)


def positive_int(what: str, *, separators: bool = False) -> Callable[[str], int]:
    """An argparse type: a whole number of at least 1 (``separators``: "200_000_000" and
    "200,000,000" too), else a usage error saying it must be ``what``."""
    def parse(text: str) -> int:
        try:
            n = int(text.replace("_", "").replace(",", "") if separators else text)
        except ValueError:
            n = 0
        if n < 1:
            raise argparse.ArgumentTypeError(f"must be {what}, got {text!r}")
        return n
    return parse


pixels = positive_int("a positive number of pixels", separators=True)


def each_file(files: list[str], analyse: Callable[[str], dict], *, quiet: bool,
              on_error: dict | None = None) -> tuple[list[dict], bool]:
    """``{"file": f, **analyse(f)}`` for every file, in order, and whether any failed. A file that
    fails (ProvenanceError) is a ``{"file", "error", **on_error}`` entry, its error said once on
    stderr as it happens unless ``quiet`` (--json carries it in the output instead)."""
    from provenance import ProvenanceError

    results, failed = [], False
    for f in files:
        try:
            results.append({"file": f, **analyse(f)})
        except ProvenanceError as e:
            failed = True
            results.append({"file": f, "error": str(e), **(on_error or {})})
            if not quiet:
                print(f"provenance: error: {e}", file=sys.stderr)
    return results, failed


def add_max_pixels(p) -> None:
    from provenance import MAX_PIXELS

    p.add_argument("--max-pixels", type=pixels, default=MAX_PIXELS, metavar="N",
                   help=f"largest image decoded, in pixels (default {MAX_PIXELS:,}); larger ones are refused "
                        "as possible decompression bombs")


#: What verify and audit look for, for their --help (wrapped: the help keeps line breaks).
SEARCHED = textwrap.fill(
    "What is searched: C2PA Content Credentials (offline); our watermarks, provenanceWM also in copies "
    "scaled 0.3-2x, rotated up to 7 degrees either way, stretched, cropped to a quarter of the area or "
    "flipped (horizontally, vertically), after re-encoding or filtering (--fast: at the stamped geometry "
    "only), dwtDctSvd and dwtDct (rivaGan only with --method rivaGan), and the public SD 1.x/2/SDXL marks; "
    "EXIF, XMP/IPTC and generator metadata; the local registry, by watermark id, by file hash and by look "
    "(PDQ, flips included, and pHash: a look-alike alone is reported as such and never makes an image "
    "AI-generated); the forensic classifier (an estimate that decides nothing until validated).", 100)


def add_fast(p) -> None:
    p.add_argument("--fast", action="store_true",
                   help="our watermarks at the stamped geometry only: untouched, re-encoded, filtered or "
                        "cropped copies (about 20 ms less per unmarked 512² image on one core; default: the "
                        "full search, which also finds copies scaled 0.3-2x, rotated up to 7°, stretched, "
                        "cropped to a quarter or flipped)")


def add_key_options(p) -> None:
    p.add_argument("--cert", help="PEM certificate chain to sign with (leaf first) instead of the keys folder")
    p.add_argument("--key", help="PEM private key matching --cert")
    p.add_argument("--passphrase-file", help=f"file holding the key's passphrase (or set {PASSPHRASE_ENV})")


def resolver_urls(args) -> list[str]:
    """--resolver URLs, else those of PROVENANCE_RESOLVERS (none: no resolver)."""
    from provenance._resolver import resolvers_from_env

    if args.resolver_timeout <= 0:
        raise UsageError("--resolver-timeout must be positive")
    return resolvers_from_env(args.resolver)


def resolvers(args) -> tuple:
    """The resolvers verify asks (provenance._resolver.HttpResolver), each with its timeout."""
    from provenance import ProvenanceError
    from provenance._resolver import HttpResolver

    try:
        return tuple(HttpResolver(u, timeout=args.resolver_timeout) for u in resolver_urls(args))
    except ProvenanceError as e:
        raise UsageError(str(e)) from e


def add_registry_option(p) -> None:
    p.add_argument("--registry", metavar="PATH|URL",
                   help="the registry: a SQLite file or a shared PostgreSQL database (postgresql://user@host/db; "
                        "needs the postgresql extra); default: $PROVENANCE_REGISTRY, else registry.sqlite in "
                        "$PROVENANCE_HOME or the user data folder")


def existing_registry(location: str | None = None):
    """(the registry, None) when one exists; else (None, why): reading must not create a SQLite file."""
    from provenance import open_existing_registry

    return open_existing_registry(location)
