"""Command line: `python -m dlbuilder presets | show | validate | export | train`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dlbuilder.document import MAX_DOCUMENT_BYTES, Document, DocumentError, load_document
from dlbuilder.presets import PRESETS
from dlbuilder.training.cli import add_train_command
from dlbuilder.validation import validate

EXIT_OK, EXIT_INVALID, EXIT_BAD_FILE = 0, 1, 2


class CommandError(Exception):
    """A one-line error for the user; the process exits with `code`."""

    def __init__(self, message: str, code: int = EXIT_BAD_FILE):
        super().__init__(message)
        self.code = code


def read_document(path: str) -> Document:
    """Load a document file (or a preset name) or raise CommandError in one line."""
    if path in PRESETS and not Path(path).exists():
        return PRESETS[path].load()
    try:
        if path == "-":
            data = sys.stdin.buffer.read(MAX_DOCUMENT_BYTES + 1)
        else:
            with open(path, "rb") as handle:  # at most one byte too many: /dev/zero is not read forever
                data = handle.read(MAX_DOCUMENT_BYTES + 1)
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror or error}") from None
    try:
        return load_document(data)
    except DocumentError as error:
        raise CommandError(f"{path}: {error}") from None


def cmd_presets(args: argparse.Namespace) -> int:
    width = max(len(name) for name in PRESETS)
    for name, preset in PRESETS.items():
        print(f"{name:<{width}}  {preset.title}: {preset.doc}")
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    if args.preset not in PRESETS:
        raise CommandError(f"unknown preset {args.preset!r}; known: {', '.join(PRESETS)}")
    print(PRESETS[args.preset].load().to_json())
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    report = validate(read_document(args.file))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif report.ok:
        print(f"valid: {len(report.order)} nodes, {report.total_params:,} parameters")
    else:
        for problem in report.problems:
            print(problem)
    return EXIT_OK if report.ok else EXIT_INVALID


def cmd_export(args: argparse.Namespace) -> int:
    from dlbuilder.compile import compile_graph
    from dlbuilder.export import export_onnx, python_source
    from dlbuilder.export.onnx_export import ExportError
    from dlbuilder.validation import InvalidNetwork

    document = read_document(args.file)
    out = Path(args.output)
    try:
        if args.to == "json":
            out.write_text(document.to_json() + "\n")
        elif args.to == "python":
            out.write_text(python_source(document))
        else:
            export_onnx(compile_graph(document), out)
    except InvalidNetwork as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        return EXIT_INVALID
    except (ExportError, OSError) as error:
        raise CommandError(str(error)) from None
    print(f"wrote {out}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m dlbuilder", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("presets", help="list the ready-made networks").set_defaults(run=cmd_presets)
    show = commands.add_parser("show", help="print a preset's document as JSON")
    show.add_argument("preset")
    show.set_defaults(run=cmd_show)
    check = commands.add_parser("validate", help="check a document; exit 1 and list problems if invalid")
    check.add_argument("file", help="a document JSON file, '-' for stdin, or a preset name")
    check.add_argument("--json", action="store_true", help="machine output with per-node shapes")
    check.set_defaults(run=cmd_validate)
    export = commands.add_parser("export", help="write the network as JSON, PyTorch source or ONNX")
    export.add_argument("file")
    export.add_argument("--to", choices=("python", "onnx", "json"), required=True)
    export.add_argument("-o", "--output", required=True)
    export.set_defaults(run=cmd_export)
    add_train_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.code
    except KeyboardInterrupt:
        return 130
