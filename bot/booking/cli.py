"""``python -m bot bookings list --date 2026-12-03 [--site ID] [--service ID]`` and
``python -m bot bookings cancel CODE --reason ...`` — for staff until the console pages exist."""
from __future__ import annotations

import datetime as dt
import sys


def register(subparsers) -> None:
    parser = subparsers.add_parser("bookings", help="list or cancel service bookings (staff)")
    sub = parser.add_subparsers(dest="bookings_command", metavar="ACTION")
    sub.required = True

    ls = sub.add_parser("list", help="bookings on a day, optionally of one site and/or service")
    ls.add_argument("--date", required=True, help="the day, YYYY-MM-DD")
    ls.add_argument("--site", help="site id (knowledge/sites/ID.yml)")
    ls.add_argument("--service", help="service id (knowledge/services/ID.yml)")
    ls.add_argument("--all", action="store_true", help="include cancelled bookings")
    ls.set_defaults(handler=_list)

    cancel = sub.add_parser("cancel", help="cancel a booking and free its place")
    cancel.add_argument("code", help="booking code, e.g. YY26120300017")
    cancel.add_argument("--reason", required=True, help="why (kept with the booking)")
    cancel.set_defaults(handler=_cancel)


def _error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _catalogue():
    from bot.booking.catalogue import get_catalogue
    return get_catalogue()


async def _list(args) -> int:
    from bot.booking import bookings
    try:
        day = dt.date.fromisoformat(args.date)
    except ValueError:
        return _error(f"--date must be YYYY-MM-DD, got {args.date!r}")
    cat = _catalogue()
    if args.site and args.site not in cat.sites:
        return _error(f"unknown site {args.site!r}; known: {', '.join(sorted(cat.sites))}")
    if args.service and args.service not in cat.services:
        return _error(f"unknown service {args.service!r}; known: {', '.join(sorted(cat.services))}")
    rows = await bookings.list_bookings(day=day, site_id=args.site, service_id=args.service,
                                        include_cancelled=args.all)
    if not rows:
        print(f"no bookings on {day.isoformat()}")
        return 0
    print(f"{'code':15} {'time':11} {'service':16} {'mode':4} {'site':10} {'person':10} {'phone':12} status")
    for b in rows:
        name = cat.services[b.service_id].name if b.service_id in cat.services else b.service_id
        status = b.status + (f" ({b.cancel_reason})" if b.cancel_reason else "")
        print(f"{b.code:15} {b.start:%H:%M}-{b.end:%H:%M} {name:16} {b.mode:4} {b.site_id:10} {b.person:10} "
              f"{b.phone_masked:12} {status}")
        if b.address:
            print(f"{'':15} address: {b.address}")
    return 0


async def _cancel(args) -> int:
    from bot.booking import bookings
    reason = args.reason.strip()
    if not reason:
        return _error("--reason must not be empty")
    outcome = await bookings.cancel(args.code, reason, by="staff")
    if outcome.status == bookings.NOT_FOUND:
        return _error(f"no booking with code {args.code!r}")
    if outcome.status == bookings.ALREADY_CANCELLED:
        print(f"{outcome.booking.code} was already cancelled")
        return 0
    b = outcome.booking
    print(f"cancelled {b.code} ({b.start:%Y-%m-%d %H:%M}, {b.service_id} at {b.site_id}); the place is free again")
    return 0
