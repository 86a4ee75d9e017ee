"""``python -m bot applications import FILE.csv [--skip-invalid]`` and ``python -m bot applications show NO``.

Exit codes: 0 imported (with --skip-invalid: the valid rows were imported), 1 invalid rows (nothing imported)
or application not found, 2 the file cannot be read at all (missing, encoding, header).
"""
from __future__ import annotations

import sys

COLUMNS_HELP = ("columns (header row, in this order): application_no,program,applicant_name,id_number,phone,"
                "status,submitted_at,updated_at,note — encodings UTF-8, UTF-8 with BOM or GB18030/GBK")


async def _import(args) -> int:
    from bot.applications.importer import ImportFileError, import_csv
    from bot.db import dispose_engines

    try:
        report = await import_csv(args.file, skip_invalid=args.skip_invalid)
    except ImportFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        await dispose_engines()
    for error in report.errors:
        print(str(error), file=sys.stderr)
    if not report.imported:
        print(f"{report.summary()}; fix the rows above, or re-run with --skip-invalid to import the valid rows",
              file=sys.stderr)
        return 1
    print(report.summary())
    if report.errors:
        print(f"{report.skipped} row(s) with problems were NOT imported (listed above)", file=sys.stderr)
    return 0


async def _show(args) -> int:
    from bot.applications.records import get_application, history
    from bot.applications.numbers import canonical_application_no
    from bot.db import dispose_engines

    number = canonical_application_no(args.number)
    try:
        app = await get_application(number) if number else None
        if app is None:
            print(f"no application {args.number!r}", file=sys.stderr)
            return 1
        changes = await history(app.id)
    finally:
        await dispose_engines()
    print(f"application  {app.application_no}")
    try:
        from bot.applications.programs import ProgramCatalogue
        program = f"{ProgramCatalogue.load().name(app.program_id)} ({app.program_id})"
    except Exception:  # the record is still worth showing without the knowledge base
        program = app.program_id
    print(f"programme    {program}")
    print(f"applicant    {app.name_masked}")
    print(f"ID number    {app.id_masked}")
    print(f"mobile       {app.phone_masked}")
    print(f"status       {app.status}")
    print(f"submitted    {app.submitted_at:%Y-%m-%d %H:%M}")
    print(f"updated      {app.updated_at:%Y-%m-%d %H:%M}")
    print(f"note         {app.note or '-'}")
    print("history:")
    for c in changes:
        what = "created" if c.field == "created" else f"{c.field}: {c.old_value or '-'} -> {c.new_value or '-'}"
        print(f"  {c.changed_at:%Y-%m-%d %H:%M}  {what}  ({c.source}, recorded {c.recorded_at:%Y-%m-%d %H:%M})")
    return 0


def register(sub) -> None:
    p = sub.add_parser("applications", help="application records: import the welfare system's CSV, look one up")
    asub = p.add_subparsers(dest="applications_command", metavar="SUBCOMMAND")
    asub.required = True
    imp = asub.add_parser("import", help="import (or re-import) a CSV export of application records",
                          description="Import application records. Every row is checked first; if any row is "
                                      "invalid nothing is imported (exit 1) unless --skip-invalid. "
                                      + COLUMNS_HELP,
                          epilog="exit codes: 0 imported; 1 invalid rows, nothing imported; "
                                 "2 the file cannot be read (missing, encoding, header)")
    imp.add_argument("file", help="the CSV file")
    imp.add_argument("--skip-invalid", action="store_true",
                     help="import the valid rows and report the invalid ones instead of importing nothing")
    imp.set_defaults(handler=_import)
    show = asub.add_parser("show", help="show one application (masked) and its history, for staff",
                           epilog="exit codes: 0 shown; 1 no such application")
    show.add_argument("number", help="the application number")
    show.set_defaults(handler=_show)
