"""``python -m bot retention run [--dry-run]`` — meant for a daily scheduler (cron, a Kubernetes CronJob)."""
from __future__ import annotations


def _run(args) -> int:
    from bot.retention.run import run

    import sys

    try:
        counts = run(dry_run=args.dry_run)
    except ValueError as exc:  # a retention period that is not a number of days
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    verb = "would remove" if args.dry_run else "removed/anonymised"
    for name, n in counts.items():
        print(f"{name}: {verb} {n}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("retention", help="data retention")
    rsub = p.add_subparsers(dest="retention_command", metavar="SUBCOMMAND")
    rsub.required = True
    r = rsub.add_parser("run", help="delete or anonymise data older than the configured periods")
    r.add_argument("--dry-run", action="store_true", help="only count what would be removed")
    r.set_defaults(handler=_run)
