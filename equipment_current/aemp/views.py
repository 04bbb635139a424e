"""ISO 15143-3 (AEMP 2.0) endpoints: one APIView per operation (docs/AEMP.md).

Views validate the path parameters, read the repositories, and hand the stored documents to the
pure mapping in ``elements``; JSON by default, XML on ``Accept: application/xml``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from django.conf import settings
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.exceptions import NotFound
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from equipment_current.aemp import elements
from equipment_current.aemp.renderers import AempXMLRenderer
from equipment_current.repository import FleetFilter
from telemetry_site.api import ERROR_RESPONSES, ErrorOut, TimestampField
from telemetry_site.renderers import JSONRenderer

MS_PER_DAY = 86_400_000


def repository(alias: str) -> Any:
    from telemetry_site.backends import repositories

    return repositories[alias]


def now_ms() -> int:
    return int(time.time() * 1000)


# -- input -------------------------------------------------------------------------------------


class PageIn(serializers.Serializer):
    page = serializers.IntegerField(min_value=1, max_value=10_000_000)


class RangeIn(PageIn):
    """The standard's parameter names, as the 400 body names them."""

    startDateUTC = TimestampField()
    endDateUTC = TimestampField()

    def validate(self, attrs: dict) -> dict:
        if attrs["startDateUTC"] >= attrs["endDateUTC"]:
            raise serializers.ValidationError({"endDateUTC": "Must be later than startDateUTC."})
        max_days = settings.HISTORY_MAX_SPAN_DAYS
        if attrs["endDateUTC"] - attrs["startDateUTC"] > max_days * MS_PER_DAY:
            raise serializers.ValidationError({"endDateUTC": f"The range may span at most {max_days} days."})
        return attrs


def validated(serializer_class: type[serializers.Serializer], data: dict) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def check_page(page: int, last: int) -> None:
    if page > last:
        raise NotFound(f"Page {page} does not exist; the last page is {last}.")


# -- output (the OpenAPI description of the documents; the views build them in ``elements``) -------


class AempLinkSerializer(serializers.Serializer):
    rel = serializers.ChoiceField(choices=["self", "prev", "next", "last"])
    href = serializers.URLField()


class AempEquipmentHeaderSerializer(serializers.Serializer):
    OEMName = serializers.CharField(required=False)
    Model = serializers.CharField(required=False)
    EquipmentID = serializers.CharField()
    SerialNumber = serializers.CharField(required=False)
    PIN = serializers.CharField(required=False, help_text="Only when the serial number is a 17-character PIN")


# The description of every element's ``datetime`` (pinned by the schema test in tests/aemp/test_api.py).
# A constant, not a factory: a function called only in class bodies runs at import, before any test.
EVENT_TIME_HELP = "Event time of the value, UTC (an attribute in XML)"


class AempElementSerializer(serializers.Serializer):
    """What every element of a machine has: the event time of its value."""

    datetime = serializers.DateTimeField(help_text=EVENT_TIME_HELP)


# Each element adds its value fields after ``datetime`` (DRF puts a base class's fields first).
class AempLocationSerializer(AempElementSerializer):
    Latitude = serializers.FloatField()
    Longitude = serializers.FloatField()


class AempCumulativeOperatingHoursSerializer(AempElementSerializer):
    Hour = serializers.FloatField()


class AempDistanceSerializer(AempElementSerializer):
    OdometerUnits = serializers.ChoiceField(choices=[elements.KILOMETRE])
    Odometer = serializers.FloatField()


class AempEngineStatusSerializer(AempElementSerializer):
    Running = serializers.BooleanField()


class AempFuelUsedSerializer(AempElementSerializer):
    FuelUnits = serializers.ChoiceField(choices=[elements.LITRE])
    FuelConsumed = serializers.FloatField()


class AempFuelRemainingSerializer(AempElementSerializer):
    Percent = serializers.FloatField()


class AempEquipmentSerializer(serializers.Serializer):
    """One machine; an element the backend does not know is absent (never null)."""

    EquipmentHeader = AempEquipmentHeaderSerializer()
    Location = AempLocationSerializer(required=False)
    CumulativeOperatingHours = AempCumulativeOperatingHoursSerializer(required=False)
    Distance = AempDistanceSerializer(required=False)
    EngineStatus = AempEngineStatusSerializer(required=False)
    FuelUsed = AempFuelUsedSerializer(required=False)
    FuelRemaining = AempFuelRemainingSerializer(required=False)


class AempSnapshotSerializer(serializers.Serializer):
    """``version`` and ``snapshotTime`` are attributes of the ``Fleet`` root in XML."""

    version = serializers.CharField(help_text=f"Always {elements.VERSION!r} (an attribute in XML)")
    snapshotTime = serializers.DateTimeField(help_text="Time of the answer, UTC (an attribute in XML)")


class AempFleetSerializer(AempSnapshotSerializer):
    Links = AempLinkSerializer(many=True)
    Equipment = AempEquipmentSerializer(many=True)


class AempSingleEquipmentSerializer(AempSnapshotSerializer):
    Equipment = AempEquipmentSerializer(many=True, help_text="Exactly one machine")


class AempSeriesSerializer(serializers.Serializer):
    Links = AempLinkSerializer(many=True)


class AempLocationsSerializer(AempSeriesSerializer):
    """``LocationMessages`` in XML."""

    Location = AempLocationSerializer(many=True)


class AempCumulativeOperatingHoursSeriesSerializer(AempSeriesSerializer):
    """``CumulativeOperatingHoursMessages`` in XML."""

    CumulativeOperatingHours = AempCumulativeOperatingHoursSerializer(many=True)


class AempDistanceSeriesSerializer(AempSeriesSerializer):
    """``DistanceMessages`` in XML."""

    Distance = AempDistanceSerializer(many=True)


RESPONSES_404 = {404: ErrorOut, **ERROR_RESPONSES}
PAGE_PARAMETER = OpenApiParameter(
    "page", OpenApiTypes.INT, OpenApiParameter.PATH, description=f"1-based; {elements.PAGE_SIZE} records per page"
)
ID_PARAMETER = OpenApiParameter("id", OpenApiTypes.STR, OpenApiParameter.PATH, description="Equipment identifier")
RANGE_PARAMETERS = [
    ID_PARAMETER,
    OpenApiParameter("startDateUTC", OpenApiTypes.DATETIME, OpenApiParameter.PATH, description="ISO 8601, inclusive"),
    OpenApiParameter("endDateUTC", OpenApiTypes.DATETIME, OpenApiParameter.PATH, description="ISO 8601, exclusive"),
    PAGE_PARAMETER,
]


# -- views -------------------------------------------------------------------------------------


class AempView(APIView):
    renderer_classes: ClassVar[list] = [JSONRenderer, AempXMLRenderer, BrowsableAPIRenderer]
    xml_root = "Fleet"


class FleetView(AempView):
    """The fleet snapshot: every machine, ordered by identifier, 100 per page, each element with
    its own event time. A page past the last one is a 404."""

    xml_root = "Fleet"

    @extend_schema(
        operation_id="aemp_fleet",
        parameters=[PAGE_PARAMETER],
        responses={200: AempFleetSerializer, **RESPONSES_404},
    )
    def get(self, request: Request, page: str) -> Response:
        number = validated(PageIn, {"page": page})["page"]
        states = repository("current_state")
        last = elements.last_page(states.count(FleetFilter()))
        check_page(number, last)
        machines = states.find(FleetFilter(), (number - 1) * elements.PAGE_SIZE, elements.PAGE_SIZE)
        registry = repository("equipment_registry").newest(machine["_id"] for machine in machines)

        def href(n: int) -> str:
            return request.build_absolute_uri(reverse("aemp:fleet", kwargs={"page": n}))

        equipment = [elements.equipment(machine, registry.get(machine["_id"])) for machine in machines]
        return Response(elements.fleet(equipment, elements.page_links(number, last, href), now_ms()))


def reported_machine(identifier: str) -> dict:
    state = repository("current_state").get(identifier)
    if state is None:
        raise NotFound(f"No machine {identifier!r} has reported.")
    return state


class EquipmentView(AempView):
    """One machine's snapshot: a ``Fleet`` holding its one ``Equipment``; 404 if it never reported."""

    xml_root = "Fleet"

    @extend_schema(
        operation_id="aemp_equipment",
        parameters=[ID_PARAMETER],
        responses={200: AempSingleEquipmentSerializer, **RESPONSES_404},
    )
    def get(self, request: Request, id: str) -> Response:
        state = reported_machine(id)
        document = elements.equipment(state, repository("equipment_registry").get(id))
        return Response(elements.single_equipment(document, now_ms()))


class TimeSeriesView(AempView):
    """A machine's values of one element with ``startDateUTC <= datetime < endDateUTC``, oldest
    first, 100 per page. Subclasses name the element and read its source."""

    element: ClassVar[str] = ""
    url_name: ClassVar[str] = ""

    def count_and_fetch(
        self, identifier: str, start: int, end: int
    ) -> tuple[Callable[[], int], Callable[[int, int], list[dict]]]:
        raise NotImplementedError

    def get(self, request: Request, id: str, startDateUTC: str, endDateUTC: str, page: str) -> Response:
        data = validated(RangeIn, {"startDateUTC": startDateUTC, "endDateUTC": endDateUTC, "page": page})
        reported_machine(id)
        count, fetch = self.count_and_fetch(id, data["startDateUTC"], data["endDateUTC"])
        number = data["page"]
        last = elements.last_page(count())
        check_page(number, last)
        items = fetch((number - 1) * elements.PAGE_SIZE, elements.PAGE_SIZE)

        def href(n: int) -> str:
            kwargs = {"id": id, "startDateUTC": startDateUTC, "endDateUTC": endDateUTC, "page": n}
            return request.build_absolute_uri(reverse(f"aemp:{self.url_name}", kwargs=kwargs))

        links = elements.page_links(number, last, href)
        return Response(elements.time_series(self.element, items, links))


@extend_schema_view(
    get=extend_schema(
        operation_id="aemp_locations",
        parameters=RANGE_PARAMETERS,
        responses={200: AempLocationsSerializer, **RESPONSES_404},
    )
)
class LocationsView(TimeSeriesView):
    """Positions from the stored history (MongoDB; ranges in the archive are not merged)."""

    element = "Locations"
    xml_root = "LocationMessages"
    url_name = "locations"

    def count_and_fetch(self, identifier: str, start: int, end: int) -> tuple[Callable, Callable]:
        positions = repository("positions")
        return (
            lambda: positions.count_between(identifier, start, end),
            lambda skip, limit: elements.location_items(positions.between(identifier, start, end, limit, skip)),
        )


class LedgerCounterView(TimeSeriesView):
    """One counter's readings from the usage ledger (each reading's value at its event time);
    subclasses name the counter and how its readings become the element's items."""

    counter: ClassVar[str] = ""
    items: ClassVar[Callable[[Iterable[dict]], list[dict]]]

    def count_and_fetch(self, identifier: str, start: int, end: int) -> tuple[Callable, Callable]:
        usage, counter, items = repository("usage"), self.counter, self.items
        return (
            lambda: usage.count_readings(identifier, start, end, counter),
            lambda skip, limit: items(usage.find_readings(identifier, start, end, counter, skip, limit)),
        )


@extend_schema_view(
    get=extend_schema(
        operation_id="aemp_cumulative_operating_hours",
        parameters=RANGE_PARAMETERS,
        responses={200: AempCumulativeOperatingHoursSeriesSerializer, **RESPONSES_404},
    )
)
class CumulativeOperatingHoursView(LedgerCounterView):
    """Engine-hour readings from the usage ledger."""

    element = "CumulativeOperatingHours"
    xml_root = "CumulativeOperatingHoursMessages"
    url_name = "cumulative-operating-hours"
    counter = "hours"
    items = staticmethod(elements.operating_hours_items)


@extend_schema_view(
    get=extend_schema(
        operation_id="aemp_distance",
        parameters=RANGE_PARAMETERS,
        responses={200: AempDistanceSeriesSerializer, **RESPONSES_404},
    )
)
class DistanceView(LedgerCounterView):
    """Odometer readings (km) from the usage ledger."""

    element = "Distance"
    xml_root = "DistanceMessages"
    url_name = "distance"
    counter = "km"
    items = staticmethod(elements.distance_items)


class UnknownElementView(AempView):
    """Any other time-series element: 404 naming the supported ones."""

    xml_root = "Error"

    @extend_schema(exclude=True)
    def get(self, request: Request, element: str, **kwargs: str) -> Response:
        supported = ", ".join(elements.TIME_SERIES)
        raise NotFound(f"Unknown element {element!r}; supported time series: {supported}.")
