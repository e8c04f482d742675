"""Ranking as a pipeline of small stages (see :mod:`.pipeline` for the order)."""

from .base import Candidates, Ranking, Recalled, RecallQuery, RecallSource, Stage, UnitReader
from .pipeline import Pipeline, default_pipeline
from .stages import (
    FilterKinds,
    Fuse,
    FuseRecalled,
    LoadInfo,
    MergeKeyRows,
    SessionContext,
    TimeAware,
)
from .supersede import Supersede

__all__ = ["Candidates", "FilterKinds", "Fuse", "FuseRecalled", "LoadInfo", "MergeKeyRows",
           "Pipeline", "Ranking", "RecallQuery", "RecallSource", "Recalled", "SessionContext",
           "Stage", "Supersede", "TimeAware", "UnitReader", "default_pipeline"]
