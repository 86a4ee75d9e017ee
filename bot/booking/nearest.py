"""The service sites nearest to a point (a location a resident sent on WeChat).

Sites give their position as ``location: {lat, lng}`` in ``knowledge/sites/*.yml`` (GCJ-02, the coordinate system
WeChat sends; distances between two GCJ-02 points are good to a few metres, which is all this needs). Sites without
a location are left out. All wording is in the domain (``bot/domain/booking.yml``, ``utter_nearest_sites_*``): the
functions that describe a site take those templates (``TEMPLATES``: key -> text) from the action.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Tuple

from bot.booking.catalogue import Catalogue, Site, degrees
from bot.booking.form import payload
from bot.booking.when import describe_time

# The intent of a shared location (the WeChat channel sends /share_location{"latitude": …, "longitude": …}).
INTENT = "share_location"
EARTH_RADIUS_M = 6_371_008.8  # mean Earth radius
# Farther than this is not "nearby" (someone in another city): then no site is suggested.
NEARBY_LIMIT_M = 30_000
# The domain templates the descriptions use: key -> response name.
TEMPLATES = {key: f"utter_nearest_sites_{key}" for key in (
    "item", "metres", "km", "open_daily", "open_range", "open_days", "weekdays")}
_LIST_SEP = "\u3001"  # the enumeration comma that separates the day names in the weekdays template


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance between two points in degrees, in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def coordinate(value: Any, limit: float) -> Optional[float]:
    """``value`` as degrees when it is a finite number (or a numeric string) within ±limit, else None."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    return degrees(value, limit)


def point(lat: Any, lng: Any) -> Optional[Tuple[float, float]]:
    """(lat, lng) when both are usable coordinates, else None."""
    la, ln = coordinate(lat, 90), coordinate(lng, 180)
    return None if la is None or ln is None else (la, ln)


def nearest_sites(catalogue: Catalogue, lat: float, lng: float, limit: int = 2,
                  within_m: Optional[float] = None) -> List[Tuple[Site, float]]:
    """Up to ``limit`` (site, metres) pairs, nearest first; sites without a location (or farther than
    ``within_m`` when given) are skipped. Ties keep the catalogue's order."""
    found = [(site, haversine_m(lat, lng, site.location.lat, site.location.lng))
             for site in catalogue.sites.values() if site.location is not None]
    if within_m is not None:
        found = [(site, metres) for site, metres in found if metres <= within_m]
    found.sort(key=lambda pair: pair[1])
    return found[:max(0, limit)]


def rounded_distance(metres: float) -> Tuple[str, str]:
    """("m", "800") below a kilometre (to the nearest 100 m, at least 100), else ("km", "2.3") with one decimal
    (whole kilometres from 10 km): how far, as a resident would say it."""
    hundreds = max(100, int(round(metres / 100.0)) * 100)
    if hundreds < 1000:
        return "m", str(hundreds)
    if hundreds >= 10_000:
        return "km", str(int(round(metres / 1000.0)))
    whole, tenth = divmod(hundreds // 100, 10)
    return "km", f"{whole}.{tenth}" if tenth else str(whole)


def describe_distance(metres: float, templates: Dict[str, str]) -> str:
    unit, value = rounded_distance(metres)
    return templates["metres"].format(metres=value) if unit == "m" else templates["km"].format(km=value)


def describe_opening(site: Site, templates: Dict[str, str]) -> str:
    """Opening days and hours: every day, a run of days (Monday to Friday), or the single days."""
    names = [n.strip() for n in templates["weekdays"].split(_LIST_SEP)]
    hours = f"{describe_time(site.hours[0])}-{describe_time(site.hours[1])}"
    days = sorted(set(site.open_days))
    if len(days) == 7:
        return templates["open_daily"].format(hours=hours)
    if len(days) >= 3 and days == list(range(days[0], days[-1] + 1)):
        return templates["open_range"].format(first=names[days[0]], last=names[days[-1]], hours=hours)
    return templates["open_days"].format(days=_LIST_SEP.join(names[d] for d in days), hours=hours)


def describe_site(site: Site, metres: float, templates: Dict[str, str]) -> str:
    """One line (the item template) about a site: name, how far, address, phone, opening days and hours."""
    return templates["item"].format(name=site.name, distance=describe_distance(metres, templates),
                                    address=site.address, phone=site.phone, open=describe_opening(site, templates))


def service_buttons(catalogue: Catalogue, site: Site) -> List[Dict[str, str]]:
    """A button per service of the site that starts booking it: at this site when the site offers it there,
    else (at-home only) without a site, so that the booking form asks for the address."""
    buttons: List[Dict[str, str]] = []
    seen = set()
    for offering in site.offerings:
        service = catalogue.services.get(offering.service_id)
        if service is None or service.id in seen:
            continue
        seen.add(service.id)
        if catalogue.offering(site.id, service.id, "site"):
            buttons.append({"title": service.name, "payload": payload("book_service", service=service.id,
                                                                      site=site.id)})
        else:
            buttons.append({"title": service.name, "payload": payload("book_service", service=service.id)})
    return buttons
