"""Inspector: edits the selected segment(s) and picks takes.

Every change goes through `Document` as an undoable command when the field is committed
(Return or leaving the field), not on each keystroke, so one edit is one undo step.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QStringListModel, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QCompleter,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidgetItem,
    QMenu,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from foley_desktop.app.params import changed_since
from foley_desktop.app.preferences import PRECISION_CHOICES
from foley_desktop.app.provenance import describe
from foley_desktop.errors import FoleyError
from foley_desktop.media.timebase import samples_to_timecode
from foley_desktop.project.commands import roi_text
from foley_desktop.ui.drag_out import PATH_ROLE, FileList
from foley_desktop.ui.shortcuts import SHORTCUTS
from foley_desktop.ui.take_list import fit_rows_to_view, set_label

WHOLE_PICTURE = "auto-spot: the whole picture"


def spot_fix() -> str:
    """How to give a segment markers, with the keys the window binds (ui/shortcuts.py): what
    the window says when a library segment without them is refused (library.render's rule)."""
    return (f"press {SHORTCUTS['marker'][0][0]} at each event as it plays, or "
            f"Auto-spot ({SHORTCUTS['auto_spot'][0][0]})")


# Under Markers while a library segment has none: its single sounds would have nowhere to go.
NO_MARKERS_NOTE = ("Library mode lays one recording on each marker: " + spot_fix()
                   + ". A continuous sound (rain, fire) needs none: it becomes a bed.")


class Inspector(QWidget):
    generateRequested = Signal(list)  # segment ids
    generateAllRequested = Signal()
    abRequested = Signal()
    autoSpotRequested = Signal(list)  # segment ids
    error = Signal(str)

    def __init__(self, doc, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.doc = doc
        self.ids: list[str] = []
        self._loading = False

        self.header = QLabel("No segment selected")
        self.header.setWordWrap(True)
        self.prompt = QLineEdit()
        self.prompt.setPlaceholderText("e.g. footsteps on wet gravel, slow")
        # Completion from the model's own training prompts (manifest text.examples): a small
        # model follows wordings close to those best. Matches anywhere in the prompt ("grav").
        self._examples: dict[str, list[str]] = {}
        self._example_list = QStringListModel(self)
        self.completer = QCompleter(self._example_list, self)
        self.completer.setCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.completer.setFilterMode(Qt.MatchFlag.MatchContains)
        self.completer.setMaxVisibleItems(12)
        self.prompt.setCompleter(self.completer)
        self.literal = QCheckBox("Use the prompt as typed")
        self.literal.setToolTip(
            "Off (default): the model is conditioned on its training prompt nearest in meaning "
            "to yours when one is close enough (a small model follows those far better); the "
            "take says which one. A model that lists no training prompts always uses yours. "
            "On: your words as typed.")
        # How the prompt will be read (engine/prompt_reading.py): a Chinese description read as
        # English, or a script the text encoder cannot read, said under the field as it is typed.
        self.prompt_note = QLabel("")
        self.prompt_note.setObjectName("warning")
        self.prompt_note.setWordWrap(True)
        self.prompt_note.hide()
        self.negative = QLineEdit()
        self.negative.setPlaceholderText("what to avoid (optional)")
        self.seed = QSpinBox()
        self.seed.setRange(-1, 2**31 - 1)
        self.seed.setSpecialValueText("random")
        self.variations = QSpinBox()
        self.variations.setRange(1, 16)
        self.steps = QSpinBox()
        self.steps.setRange(0, 1000)
        self.steps.setSpecialValueText("model default")
        self.guidance = QDoubleSpinBox()
        self.guidance.setRange(0, 100)
        self.guidance.setSingleStep(0.5)
        self.guidance.setSpecialValueText("model default")
        self.visual_guidance = QDoubleSpinBox()
        self.visual_guidance.setRange(0, 100)
        self.visual_guidance.setSingleStep(0.5)
        self.visual_guidance.setSpecialValueText("model default")
        self.visual_guidance.setToolTip(
            "How hard the sound follows the picture, apart from the prompt (Guidance). Higher: "
            "hits land on the visible events and fewer sounds appear between them. A model may "
            "apply it only in the early sampling steps, where the timing is laid down "
            "(foley-tiny does), so that the prompt shapes the sound's texture.")
        self.model = QComboBox()
        self.precision = QComboBox()
        for p in PRECISION_CHOICES:
            self.precision.addItem(p, p)
        self.mode = QComboBox()
        self.mode.addItem("Model: generate the sound", "model")
        self.mode.addItem("Library: lay your recordings on the markers", "library")
        self.mode.setToolTip(
            "Model: the model generates the take. Library: recordings from your sound library "
            "that match the prompt are cut into single hits and one is laid on every marker "
            "(sustained sounds such as rain or fire become a looped bed as long as the "
            "segment). Add sound folders with `foley-desktop library add DIR`.")
        self.markers_label = QLabel("no markers")
        self.markers_label.setToolTip(
            "Spotting markers: where each sound must start. Tap M while the clip plays to add "
            "one at the sound you hear; drag a marker's flag to move it; Alt+←/→ nudges the "
            "selected marker by a frame; Delete removes it. Yellow: yours; cyan: auto-spot.")
        self.spot_btn = QPushButton("Auto-spot")
        self.spot_btn.setToolTip("Propose markers from the picture (footsteps, hits) for the "
                                 "selected segment(s); your own markers are kept (Ctrl+M)")
        self.spot_btn.clicked.connect(lambda: self.autoSpotRequested.emit(list(self.ids)))
        # The region of the picture auto-spot looks at (Segment.spot_roi): dragged on the
        # video preview, one undoable edit; the arrow's menu clears it.
        self.region_btn = QToolButton()
        self.region_btn.setText("Region…")
        self.region_btn.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.region_btn.setToolTip(
            "Auto-spot only one part of the picture (one walker among several): drag a "
            "rectangle on the video; Esc cancels. The arrow's menu clears the region.")
        self.region_action = QAction("Draw region on the picture…", self)
        self.region_action.triggered.connect(self.begin_region)
        self.clear_region_action = QAction("Clear region", self)
        self.clear_region_action.setToolTip("Auto-spot the whole picture again")
        self.clear_region_action.triggered.connect(self.clear_region)
        region_menu = QMenu(self.region_btn)
        region_menu.addAction(self.region_action)
        region_menu.addAction(self.clear_region_action)
        self.region_btn.setMenu(region_menu)
        self.region_btn.clicked.connect(self.begin_region)
        # Under the marker count: where auto-spot looks (the segment's region, or all).
        self.region_label = QLabel(WHOLE_PICTURE)
        self.region_label.setToolTip("Auto-spot looks only at this region of the picture "
                                     "(video pixels: width x height at left,top); it is "
                                     "outlined on the video")
        self._preview = None           # the window's VideoPreview (attach_preview)
        self._region_for: str | None = None   # the segment a region is being drawn for
        self.markers_note = QLabel(NO_MARKERS_NOTE)
        self.markers_note.setObjectName("warning")
        self.markers_note.setWordWrap(True)
        self.markers_note.hide()
        self.clear_markers_btn = QPushButton("Clear")
        self.clear_markers_btn.setToolTip("Remove the selected segment's markers")
        self.clear_markers_btn.clicked.connect(self._clear_markers)
        # Model takes with markers: faded down away from them (engine/marker_gate.py).
        self.between = QComboBox()
        self.between.addItem("Auto: quiet, unless the prompt is a continuous sound", "auto")
        self.between.addItem("Quiet: only the sound on the markers", "quiet")
        self.between.addItem("Keep: the take as the model made it", "keep")
        self.between.setToolTip(
            "Between the markers, model takes are faded 40 dB down (from 20 ms before each "
            "marker to 0.2 s after it the take is kept as made): the model's own events between "
            "sparse hits go. Auto does this unless the prompt asks for a continuous sound (fire, "
            "rain, crowd, traffic…). Library takes lay one recording per marker anyway.")
        marker_row = QHBoxLayout()
        marker_row.addWidget(self.markers_label, 1)
        marker_row.addWidget(self.spot_btn)
        marker_row.addWidget(self.clear_markers_btn)
        self.provider = QLabel("provider: not loaded yet")
        self.provider.setWordWrap(True)
        self.provider.setToolTip("The ONNX Runtime provider the last generation actually used")

        # Two forms whose labels share one width, so the fields line up across them.
        label_w = self.fontMetrics().horizontalAdvance("Picture guidance") + 8

        def label(text: str) -> QLabel:
            lab = QLabel(text)
            lab.setMinimumWidth(label_w)
            return lab

        form = QFormLayout()
        form.addRow(label("Mode"), self.mode)
        markers_box = QVBoxLayout()
        markers_box.setSpacing(0)
        markers_box.addLayout(marker_row)
        region_row = QHBoxLayout()
        region_row.addWidget(self.region_label, 1)
        region_row.addWidget(self.region_btn)
        markers_box.addLayout(region_row)
        markers_box.addWidget(self.markers_note)
        form.addRow(label("Markers"), markers_box)
        form.addRow(label("Prompt"), self.prompt)
        form.addRow("", self.prompt_note)
        form.addRow("", self.literal)
        form.addRow(label("Negative"), self.negative)
        form.addRow(label("Seed"), self.seed)
        form.addRow(label("Variations"), self.variations)
        # The model's settings fold away (their summary on the button): with them open the
        # panel is taller than most screens leave it, and the takes went out of sight.
        self.more_btn = QToolButton()
        self.more_btn.setCheckable(True)
        self.more_btn.setAutoRaise(True)
        self.more_btn.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_btn.setToolTip("Steps, guidance, picture guidance, between markers, model and "
                                 "precision")
        self.more_btn.toggled.connect(self._show_more)
        more_form = QFormLayout()
        more_form.setContentsMargins(0, 0, 0, 0)
        more_form.addRow(label("Steps"), self.steps)
        more_form.addRow(label("Guidance"), self.guidance)
        more_form.addRow(label("Picture guidance"), self.visual_guidance)
        more_form.addRow(label("Between markers"), self.between)
        more_form.addRow(label("Model"), self.model)
        more_form.addRow(label("Precision"), self.precision)
        self.more = QWidget()
        self.more.setLayout(more_form)
        seg_lay = QVBoxLayout()
        seg_lay.addLayout(form)
        seg_lay.addWidget(self.more_btn)
        seg_lay.addWidget(self.more)
        provider_row = QFormLayout()
        provider_row.addRow(label(""), self.provider)
        seg_lay.addLayout(provider_row)
        seg_box = QGroupBox("Segment")
        seg_box.setLayout(seg_lay)
        self._show_more(False)

        self.gen_btn = QPushButton("Generate selected")
        self.gen_btn.setObjectName("primary")
        self.gen_btn.setToolTip("Generate takes for the selected segment(s) (Ctrl+G)")
        self.gen_btn.clicked.connect(lambda: self.generateRequested.emit(list(self.ids)))
        self.gen_all_btn = QPushButton("Generate all")
        self.gen_all_btn.clicked.connect(self.generateAllRequested)
        buttons = QHBoxLayout()
        buttons.addWidget(self.gen_btn)
        buttons.addWidget(self.gen_all_btn)

        # Dragging takes out hands other apps (an NLE, a file manager) their WAVs as file URLs.
        self.takes = FileList()
        self.takes.setToolTip("Double-click a take to make it the active one; drag it into "
                              "your editing app to use the file")
        self.takes.itemDoubleClicked.connect(self._pick_take)
        # Long labels: the take number and seed stay whole, the details elide in the middle,
        # the tooltip has it all (ui/take_list.py).
        fit_rows_to_view(self.takes)
        self.ab_btn = QPushButton("A/B")
        self.ab_btn.setToolTip("Switch between this and the previous active take (B)")
        self.ab_btn.clicked.connect(self.abRequested)
        # What made the take under the cursor (its recorded parameters, model and version).
        self.take_info = QLabel("")
        self.take_info.setObjectName("take-info")
        self.take_info.setWordWrap(True)
        self.take_info.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.takes.currentItemChanged.connect(self._show_take_info)
        take_box = QGroupBox("Takes")
        tl = QVBoxLayout(take_box)
        tl.addWidget(self.takes)
        tl.addWidget(self.take_info)
        tl.addWidget(self.ab_btn)

        # The form scrolls rather than growing the window: with a prompt note, takes and a
        # take's record it needs more height than a laptop screen has, and a window taller
        # than the screen puts the Foley lane out of sight (and squeezes the rows below their
        # height: clipped buttons and text).
        body = QWidget()
        lay = QVBoxLayout(body)
        lay.addWidget(self.header)
        lay.addWidget(seg_box)
        lay.addLayout(buttons)
        lay.addWidget(take_box, 1)
        self.takes.setMinimumHeight(90)   # three takes in view however short the panel
        self.scroll = QScrollArea()
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        self.scroll.setWidget(body)
        # As wide as the form needs (plus the scroll bar): it scrolls down, never sideways.
        self.scroll.setMinimumWidth(body.minimumSizeHint().width()
                                    + self.scroll.verticalScrollBar().sizeHint().width())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.scroll)

        self.prompt.editingFinished.connect(lambda: self._commit("prompt"))
        # Leaving the field commits it: a click elsewhere after the completion list had opened
        # emitted no editingFinished, and the next edit elsewhere reloaded the form over the
        # text still typed there (the list opening itself is not leaving the field).
        self.prompt.installEventFilter(self)
        self.negative.installEventFilter(self)
        # Return (or Esc) hands the keys back to the window: after typing a prompt the editor
        # plays (Space) and taps markers (M), which a field keeping the focus typed into it.
        for field in (self.prompt, self.negative):
            field.returnPressed.connect(field.clearFocus)
        self.prompt.textChanged.connect(self._show_reading)
        self.completer.activated.connect(lambda _text: self._commit("prompt"))
        self.negative.editingFinished.connect(lambda: self._commit("negative"))
        for name, w in (("seed", self.seed), ("variations", self.variations),
                        ("steps", self.steps), ("guidance", self.guidance),
                        ("visual_guidance", self.visual_guidance)):
            w.editingFinished.connect(lambda n=name: self._commit(n))
        self.model.activated.connect(lambda _i: self._commit("model"))
        self.literal.toggled.connect(lambda _on: self._commit("literal_prompt"))
        self.precision.activated.connect(lambda _i: self._commit("precision"))
        self.mode.activated.connect(lambda _i: self._commit("mode"))
        self.between.activated.connect(lambda _i: self._commit("between_markers"))
        doc.changed.connect(self.refresh)
        self.refresh()

    def set_models(self, names: list[str], default: str = "",
                   sampler_defaults: dict[str, dict] | None = None,
                   prompt_examples: dict[str, list[str]] | None = None) -> None:
        """`sampler_defaults`: per package name, what an unset steps / guidance / picture
        guidance means (shown in the fields, so "model default" is not a blind setting).
        `prompt_examples`: per package name, its training prompts, offered as completions."""
        self.has_models = bool(names)
        self._default_model = default or ""
        self._sampler_defaults = dict(sampler_defaults or {})
        self._examples = {k: list(v) for k, v in (prompt_examples or {}).items()}
        self.model.clear()
        self.model.addItem("(default)", None)
        for n in names:
            self.model.addItem(n, n)
        if not names:
            self.model.setToolTip("No model package installed: generation is not available")

    def _show_more(self, shown: bool) -> None:
        self.more.setVisible(shown)
        self.more_btn.setArrowType(Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow)

    def _more_summary(self, seg) -> str:
        """The folded model settings in one line: the model, and what differs from its
        defaults."""
        name = seg.model or getattr(self, "_default_model", "") or "the default model"
        changed = [f"{label} {value:g}" if isinstance(value, float) else f"{label} {value}"
                   for label, value in (("steps", seg.steps), ("guidance", seg.guidance),
                                        ("picture guidance", seg.visual_guidance))
                   if value is not None]
        if seg.precision not in ("", "auto"):
            changed.append(seg.precision)
        if seg.between_markers != "auto":
            changed.append(f"{seg.between_markers} between markers")
        if seg.mode == "library":
            return "Model settings (library mode uses no model)"
        return f"Model settings: {name}, " + (", ".join(changed) if changed else "its defaults")

    def set_provider(self, text: str) -> None:
        # One line in the form (the fallback reasons are long and would squeeze the fields);
        # the whole text, with why CUDA/TensorRT were not used, is in the tooltip.
        first, _, rest = text.partition("\n")
        self.provider.setText(first + (" (details: hover)" if rest else ""))
        self.provider.setToolTip(text if rest else
                                 "The ONNX Runtime provider the last generation actually used")

    def set_selection(self, ids: list[str]) -> None:
        # Another segment: its text replaces the fields even if one has focus (the guard in
        # `refresh` only protects typing from refreshes of the same segment).
        changed = list(ids) != self.ids
        self.ids = list(ids)
        self.refresh(force_text=changed)

    # ---- the auto-spot region, drawn on the video preview
    def attach_preview(self, preview) -> None:
        """The VideoPreview the region is drawn on and shown on (the window's)."""
        if preview is self._preview:
            return
        self._preview = preview
        preview.regionPicked.connect(self._region_picked)
        preview.regionCancelled.connect(self._region_cancelled)

    def preview(self):
        """The window's video preview (MainWindow attaches it; None before that)."""
        return self._preview

    def _show_region(self, seg) -> None:
        """The selected segment's region as an outline on the picture (none for several)."""
        preview = self.preview()
        if preview is None:
            return
        if self._region_for is not None and (seg is None or seg.id != self._region_for):
            preview.cancel_region()   # the segment it was drawn for is no longer selected
        preview.set_region(None if seg is None else seg.spot_roi)

    def begin_region(self) -> None:
        """Region mode on the preview for the selected segment: drag a rectangle, Esc cancels."""
        preview = self.preview()
        if len(self.ids) != 1 or preview is None:
            return
        self._region_for = self.ids[0]
        if not preview.begin_region():
            self._region_for = None
            self.error.emit("Open a clip with a picture to draw a region on")

    def _region_picked(self, roi) -> None:
        seg_id, self._region_for = self._region_for, None
        if seg_id is None or self.doc.segment(seg_id) is None:
            return
        try:
            self.doc.set_field(seg_id, "spot_roi", tuple(int(v) for v in roi),
                               "set auto-spot region")
        except FoleyError as exc:
            self.error.emit(str(exc))

    def _region_cancelled(self) -> None:
        self._region_for = None

    def clear_region(self) -> None:
        if len(self.ids) == 1:
            seg = self.doc.segment(self.ids[0])
            if seg is not None and seg.spot_roi is not None:
                self.doc.set_field(seg.id, "spot_roi", None, "clear auto-spot region")

    def _show_model_defaults(self, model: str | None, markers: bool = False) -> None:
        name = model or getattr(self, "_default_model", "")
        d = dict(getattr(self, "_sampler_defaults", {}).get(name, {}))
        with_markers = markers and d.get("visual_guidance_with_markers") is not None
        if with_markers:
            # What the engine uses for a segment with markers (the take records it).
            d["visual_guidance"] = d["visual_guidance_with_markers"]
        examples = self._examples.get(name, [])
        if examples != self._example_list.stringList():
            self._example_list.setStringList(examples)
        self.prompt.setToolTip(
            f"Type to see the {len(examples)} prompts {name} was trained with (any part of "
            "them matches); wordings close to these work best" if examples else
            "What the segment should sound like")

        def fmt(v) -> str:
            return f"{v:g}" if isinstance(v, float) else str(v)

        self.steps.setSpecialValueText(
            f"model default ({d['steps']})" if d.get("steps") is not None else "model default")
        self.guidance.setSpecialValueText(
            f"model default ({fmt(d['guidance'])})" if d.get("guidance") is not None
            else "model default")
        if not d:
            self.visual_guidance.setSpecialValueText("model default")
        elif d.get("visual_guidance") is None:
            self.visual_guidance.setSpecialValueText("model default (as Guidance)")
        else:
            self.visual_guidance.setSpecialValueText(
                f"model default ({fmt(d['visual_guidance'])}"
                + (" with markers)" if with_markers else ")"))

    # ---- view
    def refresh(self, force_text: bool = False) -> None:
        segs = [s for s in (self.doc.segment(i) for i in self.ids) if s is not None]
        self.ids = [s.id for s in segs]
        enabled = bool(segs)
        one = segs[0] if len(segs) == 1 else None
        self.region_btn.setEnabled(one is not None)
        self.region_action.setEnabled(one is not None)
        self.clear_region_action.setEnabled(one is not None and one.spot_roi is not None)
        self._show_region(one)
        for w in (self.prompt, self.literal, self.negative, self.seed, self.variations, self.steps,
                  self.guidance, self.visual_guidance, self.model, self.precision, self.gen_btn,
                  self.takes, self.mode, self.spot_btn, self.clear_markers_btn, self.between):
            w.setEnabled(enabled)
        # Library mode uses no model: its settings are greyed out rather than hidden, so the
        # form does not jump when the mode changes.
        model_only = (self.negative, self.steps, self.guidance, self.visual_guidance, self.model,
                      self.precision, self.literal, self.between)
        if segs and all(s.mode == "library" for s in segs):
            for w in model_only:
                w.setEnabled(False)
        can = getattr(self, "has_models", True)
        self.gen_btn.setEnabled(enabled and can)
        self.gen_all_btn.setEnabled(can and bool(self.doc.project and self.doc.project.segments))
        tip = "" if can else "No model package installed: model mode is unavailable (see `foley-desktop models`)"
        # Library segments without markers: Generate stays on (a bed needs none, and which
        # the prompt's sounds are is known only from the library), but it says what it needs.
        bare = [s for s in segs if s.mode == "library" and not s.markers_inside()]
        self.markers_note.setVisible(bool(bare))
        self.gen_btn.setToolTip(
            tip or "Generate takes for the selected segment(s) (Ctrl+G)"
            + ("\nLibrary mode without markers: single sounds (steps, hits) need markers "
               f"({spot_fix()}); a continuous sound becomes a bed" if bare else ""))
        self.gen_all_btn.setToolTip(tip)
        self._loading = True
        try:
            if not segs:
                self.header.setText("No segment selected. Drag on the Foley lane or press I / O "
                                    "to mark one.")
                self.takes.clear()
                self.take_info.clear()
                self.ab_btn.setEnabled(False)
                self.markers_label.setText("no markers")
                self.region_label.setText(WHOLE_PICTURE)
                self.more_btn.setText("Model settings")
                for w in (self.prompt, self.negative):
                    w.clear()
                return
            s = segs[0]
            fps = self.doc.fps
            self.header.setText(
                f"{len(segs)} segments selected (edits apply to all)" if len(segs) > 1 else
                 f"Segment {samples_to_timecode(s.start, fps)} – "
                 f"{samples_to_timecode(s.end, fps)}")
            if force_text or not self.prompt.hasFocus():
                self.prompt.setText(s.prompt)
            if force_text or not self.negative.hasFocus():
                self.negative.setText(s.negative or "")
            self.seed.setValue(-1 if s.seed is None else s.seed)
            self.variations.setValue(s.variations)
            self.steps.setValue(s.steps or 0)
            self.guidance.setValue(s.guidance or 0.0)
            self.visual_guidance.setValue(s.visual_guidance or 0.0)
            self.model.setCurrentIndex(max(0, self.model.findData(s.model)))
            self._show_model_defaults(s.model, markers=bool(s.markers_inside()))
            self.precision.setCurrentIndex(max(0, self.precision.findData(s.precision)))
            self.more_btn.setText(self._more_summary(s))
            self.literal.setChecked(s.literal_prompt)
            self.mode.setCurrentIndex(max(0, self.mode.findData(s.mode)))
            self.between.setCurrentIndex(max(0, self.between.findData(s.between_markers)))
            inside = s.markers_inside()
            n_auto = sum(1 for m in inside if m.source == "auto")
            self.markers_label.setText(
                "no markers" if not inside else
                f"{len(inside)} marker{'s' if len(inside) != 1 else ''}"
                + (f" ({n_auto} from auto-spot)" if n_auto else ""))
            region = roi_text(s.spot_roi) if len(segs) == 1 else ""
            self.region_label.setText(f"region {region}" if region else WHOLE_PICTURE)
            self.clear_markers_btn.setEnabled(bool(inside) and len(segs) == 1)
            self.takes.clear()
            for i, t in enumerate(s.takes, 1):
                active = t.id == s.active_take
                what = ("library" if t.mode == "library"
                        else f"{t.variant or ''} {t.provider or ''}".strip())
                sync = f"  sync {t.sync['f1_100ms']:.2f}" if t.sync else ""
                changed = changed_since(s, t.params)
                older = f"  (before: {', '.join(changed)})" if changed else ""
                head = f"{'● ' if active else '○ '}Take {i}  seed {t.seed}"
                details = f"{what}{sync}{older}".strip()
                item = QListWidgetItem()
                item.setData(Qt.ItemDataRole.UserRole, t.id)
                tips = ["\n".join(describe(t))] if t.params else []
                if changed:
                    tips.append("Made before the segment's " + ", ".join(changed) + " changed: "
                                "Generate makes takes for the current settings")
                if t.sync:
                    tips.append(f"Onsets vs the segment's {t.sync['n_markers']} markers: F1 "
                                f"{t.sync['f1_100ms']:.2f} within 100 ms, {t.sync['f1_40ms']:.2f} "
                                f"within 40 ms ({t.sync['n_onsets']} onsets in the take)")
                if t.sources:
                    files = sorted({src["file"] for src in t.sources})
                    tips.append(f"Made of {len(t.sources)} placement(s) from:\n"
                                + "\n".join(files[:8]) + ("\n…" if len(files) > 8 else ""))
                    credits = sorted({src["credit"] for src in t.sources if src.get("credit")})
                    if credits:
                        tips.append("Credits: " + "; ".join(credits[:4]))
                if t.prompt_used:
                    details = f"{details}  ≈".strip()
                    tips.append(f"Generated from the model's training prompt "
                                f"\"{t.prompt_used}\", the nearest in meaning to the "
                                "segment's (tick \"Use the prompt as typed\" to avoid that)")
                set_label(item, head, details)
                # The whole label first: the row may show it elided.
                item.setToolTip("\n".join([item.text(), *tips]))
                item.setData(PATH_ROLE, str(t.path))
                self.takes.addItem(item)
                if active:
                    self.takes.setCurrentItem(item)
            self.ab_btn.setEnabled(len(segs) == 1 and len(s.takes) >= 2)
        finally:
            self._loading = False

    # ---- edits
    def _value(self, name: str):
        if name == "prompt":
            return self.prompt.text().strip()
        if name == "negative":
            return self.negative.text().strip() or None
        if name == "seed":
            return None if self.seed.value() < 0 else self.seed.value()
        if name == "variations":
            return self.variations.value()
        if name == "steps":
            return self.steps.value() or None
        if name == "guidance":
            return self.guidance.value() or None
        if name == "visual_guidance":
            return self.visual_guidance.value() or None
        if name == "model":
            return self.model.currentData()
        if name == "precision":
            return self.precision.currentData()
        if name == "literal_prompt":
            return self.literal.isChecked()
        if name == "mode":
            return self.mode.currentData()
        if name == "between_markers":
            return self.between.currentData()
        raise KeyError(name)

    def _commit(self, name: str) -> None:
        if self._loading or not self.ids:
            return
        if name not in ("prompt", "negative"):
            # This edit reloads the form: text typed and not yet committed goes in first.
            for text_name, w in (("prompt", self.prompt), ("negative", self.negative)):
                if w.isModified():
                    w.setModified(False)
                    self._commit(text_name)
        value = self._value(name)
        if name == "prompt" and not value:
            return  # an empty prompt is not a valid segment prompt; keep the old one
        ids = [i for i in self.ids if getattr(self.doc.segment(i), name) != value]
        if not ids:
            return
        stack = self.doc.undo_stack
        if len(ids) > 1:
            stack.beginMacro(f"Set {name}")
        try:
            for i in ids:
                self.doc.set_field(i, name, value)
        except FoleyError as exc:
            self.error.emit(str(exc))
            self.refresh()
        finally:
            if len(ids) > 1:
                stack.endMacro()

    def _show_reading(self, text: str) -> None:
        from foley_desktop.engine.prompt_reading import read_prompt

        note = read_prompt(text).note if text.strip() else None
        self.prompt_note.setText(f"Prompt {note}" if note else "")
        self.prompt_note.setVisible(bool(note))

    def eventFilter(self, obj, event) -> bool:
        if (event.type() == QEvent.Type.KeyPress and obj in (self.prompt, self.negative)
                and event.key() == Qt.Key.Key_Escape
                and not (obj is self.prompt and self.completer.popup().isVisible())):
            obj.clearFocus()   # leaving commits it (FocusOut below)
            return True
        if (event.type() == QEvent.Type.FocusOut and obj in (self.prompt, self.negative)
                and event.reason() != Qt.FocusReason.PopupFocusReason):   # not the completions
            name = "prompt" if obj is self.prompt else "negative"
            if obj.isModified():
                self._commit(name)
                obj.setModified(False)
        return super().eventFilter(obj, event)

    def commit_pending(self) -> None:
        """Commit text still being typed (a Generate pressed before Return or leaving the field)."""
        for name, w in (("prompt", self.prompt), ("negative", self.negative)):
            if w.hasFocus() or w.isModified():
                self._commit(name)
                w.setModified(False)

    def _clear_markers(self) -> None:
        if len(self.ids) == 1 and self.doc.segment(self.ids[0]).markers:
            self.doc.set_field(self.ids[0], "markers", [])

    def _show_take_info(self, item: QListWidgetItem | None, _previous=None) -> None:
        take = None
        if item is not None and len(self.ids) == 1:
            seg = self.doc.segment(self.ids[0])
            tid = item.data(Qt.ItemDataRole.UserRole)
            take = next((t for t in seg.takes if t.id == tid), None) if seg else None
        self.take_info.setText("\n".join(describe(take)) if take is not None else "")

    def _pick_take(self, item: QListWidgetItem) -> None:
        if len(self.ids) == 1:
            self.doc.set_active_take(self.ids[0], item.data(Qt.ItemDataRole.UserRole))
