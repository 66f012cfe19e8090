"""The take list's labels: which take is which stays readable however narrow the panel.

A take's label is a head, "● Take 2  seed 1847362911" (active or not, its number in the list,
its seed: what tells two variations apart), then its details: variant and provider (or
"library"), sync with the markers, what changed since it was made, "≈" when the model's
training prompt was used. Qt cut long labels at the list's right edge (the row was as wide as
its text, behind a horizontal scroll bar), so the details' end, and in a narrow panel the
seed, went out of sight. Here every row is as wide as the list; a label too long for it keeps
its head whole and elides its details in the middle (their start: the variant, and their end:
"(before: …)" and "≈", stay), and the item's tooltip starts with the whole label.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QSize, Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
)

HEAD_ROLE = Qt.ItemDataRole.UserRole + 2   # the part of a label that is never elided
GAP = "  "


def fit_label(head: str, details: str, fm: QFontMetrics, width: int) -> str:
    """`head + GAP + details` in `width` pixels of `fm`'s font: whole when it fits, else the
    head whole and the details elided in the middle, else (not even the head and a few
    characters of details fit) the head elided at its end."""
    full = f"{head}{GAP}{details}" if details else head
    if width <= 0 or fm.horizontalAdvance(full) <= width:
        return full
    room = width - fm.horizontalAdvance(head + GAP)
    if details and room >= fm.horizontalAdvance("ab…yz"):
        return head + GAP + fm.elidedText(details, Qt.TextElideMode.ElideMiddle, room)
    return fm.elidedText(head, Qt.TextElideMode.ElideRight, width)


def set_label(item: QListWidgetItem, head: str, details: str) -> None:
    """Give `item` the label `head + details` (its text: the whole label, as read by tests,
    accessibility and copy) with `head` marked as the part never elided."""
    item.setText(f"{head}{GAP}{details}" if details else head)
    item.setData(HEAD_ROLE, head)


class TakeLabelDelegate(QStyledItemDelegate):
    """Draws labels set by `set_label` fitted to the row (`fit_label`); the row's size hint is
    no wider than its head, so the list lays every row out as wide as the view."""

    def initStyleOption(self, option: QStyleOptionViewItem,
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        head = index.data(HEAD_ROLE)
        if not head or option.rect.width() <= 0:
            return
        full = option.text
        details = full[len(head) + len(GAP):] if full.startswith(head) else ""
        style = option.widget.style() if option.widget is not None else None
        if style is not None:
            width = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, option,
                                         option.widget).width()
            # the style's own text margins inside that rectangle (QCommonStyle: focus margin + 1)
            width -= 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, option,
                                            option.widget) + 1)
        else:
            width = option.rect.width()
        option.text = fit_label(head, details, option.fontMetrics, width)

    def sizeHint(self, option: QStyleOptionViewItem,
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        head = index.data(HEAD_ROLE)
        if head:
            fm = option.fontMetrics
            size.setWidth(min(size.width(), fm.horizontalAdvance(head) + 2 * fm.averageCharWidth()))
        return size

    def shown_text(self, view: QAbstractItemView, index: QModelIndex) -> str:
        """The text the row shows now (tests, and what an accessibility tool could be told)."""
        option = QStyleOptionViewItem()
        option.initFrom(view.viewport())
        option.widget = view
        option.font = view.font()
        option.fontMetrics = QFontMetrics(view.font())
        option.rect = view.visualRect(index)
        self.initStyleOption(option, index)
        return option.text


def fit_rows_to_view(view: QListWidget) -> None:
    """Rows as wide as the list and no sideways scrolling (with `TakeLabelDelegate`)."""
    view.setItemDelegate(TakeLabelDelegate(view))
    view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    view.setResizeMode(QListWidget.ResizeMode.Adjust)
    view.setTextElideMode(Qt.TextElideMode.ElideRight)
