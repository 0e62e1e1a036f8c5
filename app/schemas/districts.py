from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictFloat, ValidationInfo, field_validator
from shapely.geometry import shape

from app.schemas.common import DistrictCode, Name, PatchModel, StrictModel
from app.schemas.read_only import TellsReadOnly

# Finite numbers only: JSON's NaN and Infinity (which Python reads) cannot be stored as JSON.
Position = Annotated[
    list[Annotated[StrictFloat, Field(allow_inf_nan=False)]], Field(min_length=2, max_length=3)
]
Ring = Annotated[list[Position], Field(min_length=4, max_length=20_000)]


class PolygonGeometry(StrictModel):
    """A GeoJSON Polygon. Its positions are [lon, lat] in WGS 84 degrees each, or
    [lon, lat, altitude] each (the altitude is not used), not a mix of the two."""

    type: Literal["Polygon"]
    coordinates: Annotated[
        Annotated[list[Ring], Field(min_length=1, max_length=500)],
        Field(
            description="Its rings, as GeoJSON has them: the outer edge first, then any holes;"
            " each closed, its first position repeated last"
        ),
    ]


class MultiPolygonGeometry(StrictModel):
    """A GeoJSON MultiPolygon: several polygons, their positions as a Polygon's."""

    type: Literal["MultiPolygon"]
    coordinates: Annotated[
        Annotated[
            list[Annotated[list[Ring], Field(min_length=1)]], Field(min_length=1, max_length=500)
        ],
        Field(description="Its polygons, each as a Polygon's coordinates"),
    ]


def _check_boundary(
    boundary: PolygonGeometry | MultiPolygonGeometry,
) -> PolygonGeometry | MultiPolygonGeometry:
    """A boundary shapely takes as a valid area: its errors are the field's (`boundary`),
    as an overlap's 422 is."""
    polygons = (
        [boundary.coordinates] if isinstance(boundary, PolygonGeometry) else boundary.coordinates
    )
    if len({len(position) for polygon in polygons for ring in polygon for position in ring}) > 1:
        # Shapely reads a boundary's positions as one array: [lon, lat] beside [lon, lat,
        # altitude] failed inside it, told as numpy's "inhomogeneous shape" (the fuzz).
        raise ValueError("every boundary position has 2 coordinates, or every one has 3")
    for polygon in polygons:
        for ring in polygon:
            if ring[0] != ring[-1]:
                raise ValueError("each boundary ring must be closed (first position = last)")
            for position in ring:
                lon, lat = position[0], position[1]
                if not (-180 <= lon <= 180 and -90 <= lat <= 90):
                    raise ValueError("boundary positions are [lon, lat] in WGS 84 degrees")
    if not shape(boundary.model_dump()).is_valid:
        raise ValueError("boundary is not a valid polygon (self-intersecting or degenerate)")
    return boundary


Boundary = Annotated[
    PolygonGeometry | MultiPolygonGeometry,
    Field(discriminator="type"),
    AfterValidator(_check_boundary),
]


class DistrictCreate(StrictModel):
    """A new district of the agency. Its code names it everywhere: in calls, shifts,
    filters and reports."""

    code: Annotated[
        DistrictCode,
        Field(
            description="The district's code, set once; no other district of the agency may"
            " have it, in any case of its letters (a 409); locate is reserved"
        ),
    ]
    name: Name
    adjacent: Annotated[
        Annotated[list[DistrictCode], Field(max_length=100)],
        Field(
            description="The codes of the districts next to it; adjacency is symmetric: each"
            " named becomes adjacent to this one too"
        ),
    ] = []
    boundary: Annotated[
        Boundary | None,
        Field(
            description="Its boundary, which places calls that come with a point: it may share"
            " edges with another district's, not area (a 422). Without one, the district"
            " places calls by its code only"
        ),
    ] = None

    @field_validator("code")
    @classmethod
    def _not_reserved(cls, code: str) -> str:
        if code == "locate":
            # GET /v1/districts/locate is the lookup by point: such a district could not be read.
            raise ValueError("the code locate is reserved")
        return code

    @field_validator("adjacent")
    @classmethod
    def _not_itself(cls, adjacent: list[str], info: ValidationInfo) -> list[str]:
        if info.data.get("code") in adjacent:
            raise ValueError("a district cannot be adjacent to itself")
        return adjacent


class DistrictPatch(PatchModel, TellsReadOnly):
    """A change to a district; fields left out keep their value. Its code is not changed:
    it names the district in the path."""

    BODY = "a district's PATCH"
    # Each field of DistrictOut the PATCH does not take (TellsReadOnly).
    READ_ONLY = {
        "code": "Set when the district is made (POST /v1/districts), and names it in the"
        " path: a PATCH cannot change it"
    }
    # null removes the boundary (the district is then placed by code only).
    NULLABLE = frozenset({"boundary"})

    name: Name | None = None
    adjacent: Annotated[
        Annotated[list[DistrictCode], Field(max_length=100)] | None,
        Field(
            description="The districts next to it: replaces every adjacency pair this district"
            " is in, whichever side named it"
        ),
    ] = None
    boundary: Annotated[
        Boundary | None,
        Field(
            description="A new boundary, which may share edges with another district's, not"
            " area; null removes it (the district then places calls by its code only)"
        ),
    ] = None


class DistrictOut(StrictModel):
    """A district of the agency."""

    code: str = Field(description="The district's code, which names it everywhere")
    name: str
    adjacent: list[str] = Field(
        description="The codes of the districts adjacent to it, whichever side named the"
        " pair, sorted"
    )
    boundary: dict[str, Any] | None = Field(
        description="Its boundary, a GeoJSON Polygon or MultiPolygon as given; null without one"
    )
