"""export layer (see shared DESIGN.md): BWF stems, per-take files, timelines, muxed video."""

from foley_desktop.export.bwf import Bext, IXml, write_bwf
from foley_desktop.export.export import ExportResult, export_project

__all__ = ["Bext", "ExportResult", "IXml", "export_project", "write_bwf"]
