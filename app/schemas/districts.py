from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StrictFloat, model_validator
from shapely.geometry import shape

from app.schemas.common import DistrictCode, Name, PatchModel, StrictModel
from app.schemas.read_only import TellsReadOnly

# Finite numbers only: JSON's NaN and Infinity (which Python reads) cannot be stored as JSON.
Position = Annotated[
    list[Annotated[StrictFloat, Field(allow_inf_nan=False)]], Field(min_length=2, max_length=3)
]
Ring = Annotated[list[Position], Field(min_length=4, max_length=20_000)]


class PolygonGeometry(StrictModel):
    type: Literal["Polygon"]
    coordinates: Annotated[list[Ring], Field(min_length=1, max_length=500)]


class MultiPolygonGeometry(StrictModel):
    type: Literal["MultiPolygon"]
    coordinates: Annotated[
        list[Annotated[list[Ring], Field(min_length=1)]], Field(min_length=1, max_length=500)
    ]


Boundary = Annotated[PolygonGeometry | MultiPolygonGeometry, Field(discriminator="type")]


def _check_boundary(boundary: PolygonGeometry | MultiPolygonGeometry | None) -> None:
    if boundary is None:
        return
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


class DistrictCreate(StrictModel):
    code: DistrictCode
    name: Name
    adjacent: Annotated[list[DistrictCode], Field(max_length=100)] = []
    boundary: Boundary | None = None

    @model_validator(mode="after")
    def _valid(self) -> DistrictCreate:
        _check_boundary(self.boundary)
        if self.code in self.adjacent:
            raise ValueError("a district cannot be adjacent to itself")
        if self.code == "locate":
            # GET /v1/districts/locate is the lookup by point: such a district could not be read.
            raise ValueError("the code locate is reserved")
        return self


class DistrictPatch(PatchModel, TellsReadOnly):
    BODY = "a district's PATCH"
    # Each field of DistrictOut the PATCH does not take (TellsReadOnly).
    READ_ONLY = {
        "code": "Set when the district is made (POST /v1/districts), and names it in the"
        " path: a PATCH cannot change it"
    }
    # null removes the boundary (the district is then placed by code only).
    NULLABLE = frozenset({"boundary"})

    name: Name | None = None
    adjacent: Annotated[list[DistrictCode], Field(max_length=100)] | None = None
    boundary: Boundary | None = None

    @model_validator(mode="after")
    def _valid(self) -> DistrictPatch:
        _check_boundary(self.boundary)
        return self


class DistrictOut(StrictModel):
    code: str
    name: str
    adjacent: list[str]
    boundary: dict[str, Any] | None
