"""Command-line interface: a thin adapter over the ``provenance`` library.

One module per command (or group of sub-commands), each a ``register(commands)`` that adds its
parser beside the ``cmd_*`` functions that run it (diffusers' ``commands/`` layout). The entry
point walks :data:`COMMANDS`, then the commands other packages register through the
``provenance.commands`` entry-point group (``detectors`` adds ``detect``, ``train``,
``evaluate``): this package never imports them by name.

Results go to stdout (``--json`` for machines), logs to stderr. Exit codes:
0 ok; 1 operational error; 2 usage error; 3 finished but something was flagged (with ``--fail-on``);
130 interrupted (Ctrl-C).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from importlib.metadata import entry_points

from . import audit, generate, keys, registry, serve, stamp, trust, verify, watch, watermark

from ._base import (
    AUDIT_FAIL_ON,
    EXIT_ERROR,
    EXIT_FLAGGED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    FAIL_ON,
    PASSPHRASE_ENV,
    Formatter,
    UsageError,
    add_command,
    add_json,
    each_file,
    print_json,
)

#: The commands of this package, in the order ``--help`` lists them.
COMMANDS = (keys, trust, stamp, watch, watermark, verify, generate, audit, registry, serve)
#: The entry-point group through which other packages add commands (objects with ``register``).
COMMAND_GROUP = "provenance.commands"

log = logging.getLogger("provenance.cli")


def plugin_commands() -> list:
    """The command modules other installed packages register, in entry-point name order. One that
    fails to load fails loudly (an ImportError there is a broken install, not an absent command)."""
    return [ep.load() for ep in sorted(entry_points(group=COMMAND_GROUP), key=lambda ep: ep.name)]


def build_parser() -> argparse.ArgumentParser:
    from provenance import version_text

    parser = argparse.ArgumentParser(
        prog="provenance",
        description="Stamp images with invisible watermarks and signed C2PA Content Credentials, and check where images came from.",
        epilog="exit codes: 0 ok, 1 operational error, 2 usage error, 3 flagged (with --fail-on), "
               "130 interrupted (Ctrl-C)\n"
               "environment: PROVENANCE_HOME (keys and registry folder), " + PASSPHRASE_ENV,
        formatter_class=Formatter,
    )
    parser.add_argument("--version", action="version", version=version_text())
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    parser.add_argument("--debug", action="store_true", help="show tracebacks of internal errors")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (*COMMANDS, *plugin_commands()):
        module.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except KeyboardInterrupt:  # also while the imports load, before a command runs
        print("provenance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)  # exits 2 on usage errors
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="provenance: %(levelname)s: %(message)s", stream=sys.stderr)
    from provenance import ProvenanceError

    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a reader that left early (EPIPE) is caught, not at exit
        return code
    except BrokenPipeError:
        # The reader left early (`provenance verify a b c | head -1`). As the Python docs advise:
        # point stdout at devnull so the interpreter's last flush cannot fail again, and exit 1.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_ERROR
    except UsageError as e:
        parser.exit(EXIT_USAGE, f"provenance: error: {e}\n")
    except ProvenanceError as e:
        print(f"provenance: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("provenance: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as e:  # a bug: say so briefly, without locals (they could hold key bytes)
        if args.debug:
            raise
        print(f"provenance: internal error: {type(e).__name__}: {e} (run with --debug for the traceback)",
              file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


__all__ = [
    "AUDIT_FAIL_ON",
    "COMMANDS",
    "COMMAND_GROUP",
    "EXIT_ERROR",
    "EXIT_FLAGGED",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "FAIL_ON",
    "UsageError",
    "add_command",
    "add_json",
    "build_parser",
    "each_file",
    "main",
    "plugin_commands",
    "print_json",
]
