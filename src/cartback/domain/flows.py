"""
Flow definitions (`contract.md` §7): the model, and the parser that reads a flow file.

`parse_flows(text)` reads YAML through PyYAML's *composed* nodes (`yaml.compose` with the safe
loader), so every value keeps its line and column and no tag is ever constructed into a Python
object. It collects every problem in the file before giving up, and raises `FlowsInvalid` with
all of them, each with its line and column (1-based). Expressions (`audience`, `when`) are
compiled once here (`cartback.domain.expressions`).

Decisions a reader may look for:

- An SMS step always runs under `contact.sms_consent`: the parser prefixes the step's `when`
  with it (or makes it the `when`), so a file cannot send a text to someone who did not agree
  to texts, whatever it says. The send-time guard checks consent again.
- `ordered` is always an exit condition, listed or not.
- Variants split a step's contacts by share; what the shares leave over gets the step's own
  template.
- A step shows at most one offer: the store's (`offer`) or a co-marketing partner's
  (`partner_offer`), never both. An offer's limits left out (`expires_in`, `max_per_contact`,
  `margin_floor`) fall back to the store's offer settings when the offer is given.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import time, timedelta
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any

import yaml

from cartback.domain.consent import Channel
from cartback.domain.durations import format_duration, parse_duration
from cartback.domain.errors import FieldError, InvalidInput
from cartback.domain.expressions import Expression, ExpressionError, compile_expression
from cartback.domain.guards import DEFAULT_EXIT_ON

MAX_FLOWS = 50
MAX_STEPS = 10
MAX_HOLDOUT = 0.5
MAX_TEXT = 256 * 1024
#: Bounds the work on a file whose aliases repeat one node many times ("billion laughs").
MAX_NODES = 20_000
STAGES = ("browsing", "cart", "checkout", "payment_failed")
EXIT_REASONS = ("ordered", "unsubscribed", "cart_emptied", "newer_cart", "clicked", "replied")
SMS_CONSENT = "contact.sms_consent"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_TEMPLATE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_./-]{0,99}")
_WINDOW = re.compile(r"([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-4]):([0-5]\d)")
_EXCLUDE = re.compile(r"on_sale|(category|sku|product):.{1,100}")
#: A co-marketing program's name (`partner_offer:` on a step).
_PROGRAM = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
#: Bounds of the offer limits a flow file may set.
MAX_OFFERS_PER_CONTACT = 1000
MAX_MIN_TOTAL = Decimal(1_000_000)
_HINTS = {
    _NAME.pattern: "use lower-case letters, digits, - and _ (at most 64, starting with a letter "
    "or digit)",
    _PROGRAM.pattern: "use lower-case letters, digits and - (at most 64, starting with a letter "
    "or digit)",
    _TEMPLATE.pattern: "use letters, digits, -, _, . and / (at most 100)",
}
_TAGS = {
    "tag:yaml.org,2002:" + kind
    for kind in ("str", "int", "float", "bool", "null", "map", "seq", "timestamp")
}


class TriggerKind(StrEnum):
    """
    What starts a flow.
    """

    ABANDONMENT = "abandonment"
    BACK_IN_STOCK = "back_in_stock"
    LAUNCH = "launch"


class OfferKind(StrEnum):
    """
    What an offer gives.
    """

    PERCENT = "percent"
    FIXED = "fixed"
    FREE_SHIPPING = "free_shipping"


@dataclass(frozen=True, kw_only=True, slots=True)
class Trigger:
    """
    When a cart enters the flow: its stage, how long inactive, and for the catalog triggers
    the window in which the change must happen.
    """

    stages: tuple[str, ...]
    inactive_for: timedelta | None = None  # None: the store's `abandon_after`
    kind: TriggerKind = TriggerKind.ABANDONMENT
    window: timedelta | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    """
    A discount attached to a step, for the carts its `when` and built-in rules admit
    (`cartback.domain.offers.eligibility`). Limits left out fall back to the store's offer
    settings.
    """

    kind: OfferKind
    value: Decimal
    #: None: the store's default (`offers.expires_in`, 48 hours unless changed).
    expires_in: timedelta | None = None
    when: Expression | None = None
    exclude: tuple[str, ...] = ()
    #: The cart total (store currency) the offer needs, inclusive.
    min_total: Decimal | None = None
    #: Only for contacts who never ordered.
    first_time_only: bool = False
    #: At most this many offers per contact in the store's window; None: the store's rule.
    max_per_contact: int | None = None
    #: The smallest margin left after the discount, a fraction (0.25); None: the store's rule.
    margin_floor: Decimal | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Variant:
    """
    An A/B variant of a step: its share of contacts and, optionally, its own template.
    """

    name: str
    share: float
    template: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Step:
    """
    One message of a sequence, `wait` after the previous one (the first: after the trigger).
    """

    wait: timedelta
    channel: Channel
    template: str
    when: Expression | None = None
    offer: Offer | None = None
    variants: tuple[Variant, ...] = ()
    #: A co-marketing program whose code the step shows instead of a store offer (never both).
    partner_offer: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Flow:
    """
    A named sequence of steps for the carts its trigger and audience select.
    """

    name: str
    trigger: Trigger
    steps: tuple[Step, ...]
    audience: Expression | None = None
    holdout: float = 0.0
    priority: int = 0
    exit_on: frozenset[str] = DEFAULT_EXIT_ON
    line: int = 0


@dataclass(frozen=True, kw_only=True, slots=True)
class QuietHours:
    """
    A daily window (recipient's local time) in which a channel may send; `end` may pass midnight.
    """

    start: time
    end: time

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"


@dataclass(frozen=True, kw_only=True, slots=True)
class FrequencyCap:
    """
    At most `messages` touches per contact in any `per`, over all flows and channels.
    """

    messages: int = 2
    per: timedelta = timedelta(hours=24)


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowDefaults:
    """
    Settings for every flow of the file.
    """

    quiet_hours: dict[str, QuietHours] = field(
        default_factory=lambda: {"sms": QuietHours(start=time(9), end=time(20))}
    )
    frequency_cap: FrequencyCap = field(default_factory=FrequencyCap)
    #: After this many emails in a row that the shopper did not come back after, their next
    #: emails are skipped `handed_to_ads` (the ad audiences take over); None: never.
    hand_to_ads_after: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowSet:
    """
    A validated flow file.
    """

    flows: tuple[Flow, ...]
    defaults: FlowDefaults = field(default_factory=FlowDefaults)

    def get(self, name: str) -> Flow | None:
        """
        The flow called `name`.
        """
        return next((f for f in self.flows if f.name == name), None)


@dataclass(frozen=True, kw_only=True, slots=True)
class FlowError:
    """
    One problem in a flow file, where it is (1-based line and column) and what it is.
    """

    line: int
    column: int
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"line {self.line}, column {self.column}: {where}{self.message}"


class FlowsInvalid(InvalidInput):
    """
    The flow file is not valid.
    """

    slug = "invalid-flows"

    def __init__(self, problems: list[FlowError]) -> None:
        super().__init__(
            f"the flow file has {len(problems)} error{'s' if len(problems) != 1 else ''}",
            errors=[
                FieldError(path=p.path, message=f"line {p.line}: {p.message}") for p in problems
            ],
        )
        self.problems = problems


# --- the reader ----------------------------------------------------------------------------


class _Invalid(Exception):
    """
    A value could not be read; its error is already recorded.
    """


class _Reader:
    """
    Walks composed YAML nodes, recording every error with its position.
    """

    def __init__(self) -> None:
        self.problems: list[FlowError] = []
        self.nodes = 0

    def error(self, node: yaml.Node, path: str, message: str) -> _Invalid:
        mark = node.start_mark
        self.problems.append(
            FlowError(line=mark.line + 1, column=mark.column + 1, path=path, message=message)
        )
        return _Invalid()

    def _count(self, node: yaml.Node, path: str) -> None:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise self.error(node, path, f"the file has more than {MAX_NODES} values")
        if node.tag not in _TAGS:
            raise self.error(node, path, f"tag {node.tag} is not allowed")

    def mapping(
        self,
        node: yaml.Node,
        path: str,
        *,
        allowed: tuple[str, ...],
        required: tuple[str, ...] = (),
    ) -> dict[str, yaml.Node]:
        """
        A mapping's values by key; unknown, duplicate and missing keys are errors.
        """
        self._count(node, path)
        if not isinstance(node, yaml.MappingNode):
            raise self.error(node, path, "expected a mapping (key: value)")
        found: dict[str, yaml.Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else None
            where = f"{path}.{key}" if path else str(key)
            if not isinstance(key, str):
                self.error(key_node, path, "keys must be plain words")
            elif key not in allowed:
                self.error(
                    key_node, where, f"unknown key {key!r}; expected one of {', '.join(allowed)}"
                )
            elif key in found:
                self.error(key_node, where, f"{key!r} is given twice")
            else:
                found[key] = value_node
        for key in required:
            if key not in found:
                self.error(node, path, f"{key!r} is required")
        return found

    def sequence(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        """
        A list's items.
        """
        self._count(node, path)
        if not isinstance(node, yaml.SequenceNode):
            raise self.error(node, path, "expected a list")
        return list(node.value)

    def scalar(self, node: yaml.Node, path: str) -> yaml.ScalarNode:
        """
        A single value (not a list or mapping).
        """
        self._count(node, path)
        if not isinstance(node, yaml.ScalarNode):
            raise self.error(node, path, "expected a single value")
        return node

    def text(self, node: yaml.Node, path: str, pattern: re.Pattern[str] | None = None) -> str:
        """
        A string (numbers are read as their text, as YAML wrote them).
        """
        value = str(self.scalar(node, path).value)
        if node.tag == "tag:yaml.org,2002:null" or not value.strip():
            raise self.error(node, path, "a value is required")
        if pattern is not None and not pattern.fullmatch(value):
            raise self.error(node, path, f"{value!r}: {_HINTS.get(pattern.pattern, 'not valid')}")
        return value

    def choice(self, node: yaml.Node, path: str, choices: tuple[str, ...]) -> str:
        """
        One of `choices`.
        """
        value = self.text(node, path)
        if value not in choices:
            raise self.error(node, path, f"{value!r} is not one of {', '.join(choices)}")
        return value

    def duration(self, node: yaml.Node, path: str) -> timedelta:
        """
        A duration such as `45s`, `30m`, `1h`, `2d`.
        """
        try:
            return parse_duration(self.text(node, path))
        except ValueError as error:
            raise self.error(node, path, str(error)) from None

    def number(self, node: yaml.Node, path: str) -> Decimal:
        """
        A number.
        """
        scalar = self.scalar(node, path)
        if scalar.tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            raise self.error(node, path, f"{scalar.value!r} is not a number")
        try:
            value = Decimal(scalar.value.replace("_", ""))
        except InvalidOperation:
            raise self.error(node, path, f"{scalar.value!r} is not a number") from None
        if not value.is_finite():
            raise self.error(node, path, "the number must be finite")
        return value

    def flag(self, node: yaml.Node, path: str) -> bool:
        """
        `true` or `false`.
        """
        scalar = self.scalar(node, path)
        if scalar.tag != "tag:yaml.org,2002:bool":
            raise self.error(node, path, f"{scalar.value!r}: write true or false")
        return str(scalar.value).lower() in ("true", "yes", "on")

    def integer(self, node: yaml.Node, path: str, low: int, high: int) -> int:
        """
        A whole number between `low` and `high`.
        """
        value = self.number(node, path)
        if value != value.to_integral_value() or not low <= value <= high:
            raise self.error(node, path, f"must be a whole number from {low} to {high}")
        return int(value)

    def expression(self, node: yaml.Node, path: str, prefix: str | None = None) -> Expression:
        """
        A compiled expression, optionally and-ed after `prefix`.
        """
        source = self.text(node, path)
        try:
            compiled = compile_expression(source)  # errors name the merchant's own text
            if prefix is None or source.strip() == prefix:
                return compiled
            return compile_expression(f"{prefix} && ({source})")
        except ExpressionError as error:
            raise self.error(node, path, f"bad expression: {error}") from None

    def names(self, node: yaml.Node, path: str, choices: tuple[str, ...]) -> tuple[str, ...]:
        """
        A list of distinct words from `choices`.
        """
        items = self.sequence(node, path)
        values: list[str] = []
        before = len(self.problems)
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            with self.collect():
                value = self.choice(item, where, choices)
                if value in values:
                    raise self.error(item, where, f"{value!r} is listed twice")
                values.append(value)
        if len(self.problems) > before:
            raise _Invalid()
        return tuple(values)

    def collect(self) -> _Collect:
        """
        A context that swallows `_Invalid` (the error is already recorded) so reading goes on.
        """
        return _Collect()

    def optional(
        self,
        found: dict[str, yaml.Node],
        key: str,
        path: str,
        read: Callable[[yaml.Node, str], Any],
    ) -> Any:
        """
        `read(found[key])` if the key is there and readable, else None (errors recorded).
        """
        if key not in found:
            return None
        try:
            return read(found[key], f"{path}.{key}" if path else key)
        except _Invalid:
            return None


class _Collect:
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> bool:
        return exc_type is not None and issubclass(exc_type, _Invalid)


# --- the file ------------------------------------------------------------------------------


def parse_flows(text: str) -> FlowSet:
    """
    Read and validate a flow file.

    Raises:
        FlowsInvalid: every problem in the file, each with its line and column.
    """
    reader = _Reader()
    root = _compose(text, reader)
    flow_set = None
    if root is not None:
        with reader.collect():
            flow_set = _file(reader, root)
    if reader.problems or flow_set is None:
        raise FlowsInvalid(sorted(reader.problems, key=lambda p: (p.line, p.column)))
    return flow_set


def _compose(text: str, reader: _Reader) -> yaml.Node | None:
    if len(text) > MAX_TEXT:
        reader.problems.append(
            FlowError(line=1, column=1, path="", message="the file is too large")
        )
        return None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        message = f"not valid YAML: {error.problem or error.context}"
        reader.problems.append(FlowError(line=line, column=column, path="", message=message))
        return None
    except yaml.YAMLError as error:
        reader.problems.append(
            FlowError(line=1, column=1, path="", message=f"not valid YAML: {error}")
        )
        return None
    if root is None:
        reader.problems.append(
            FlowError(line=1, column=1, path="", message="the file is empty; expected `flows:`")
        )
    return root


def _file(reader: _Reader, root: yaml.Node) -> FlowSet | None:
    found = reader.mapping(root, "", allowed=("flows", "defaults"), required=("flows",))
    defaults = reader.optional(found, "defaults", "", lambda n, p: _defaults(reader, n, p))
    if "flows" not in found:
        return None
    items = reader.sequence(found["flows"], "flows")
    if not 1 <= len(items) <= MAX_FLOWS:
        raise reader.error(found["flows"], "flows", f"list 1 to {MAX_FLOWS} flows")
    flows: list[Flow] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        with reader.collect():
            flow = _flow(reader, item, f"flows[{index}]")
            if flow.name in seen:
                raise reader.error(item, f"flows[{index}].name", f"{flow.name!r} is used twice")
            seen.add(flow.name)
            flows.append(flow)
    return FlowSet(flows=tuple(flows), defaults=defaults or FlowDefaults())


_FLOW_KEYS = ("name", "trigger", "audience", "holdout", "priority", "exit_on", "steps")


def _flow(reader: _Reader, node: yaml.Node, path: str) -> Flow:
    found = reader.mapping(node, path, allowed=_FLOW_KEYS, required=("name", "trigger", "steps"))
    name = reader.optional(found, "name", path, lambda n, p: reader.text(n, p, _NAME))
    trigger = reader.optional(found, "trigger", path, lambda n, p: _trigger(reader, n, p))
    audience = reader.optional(found, "audience", path, reader.expression)
    holdout = reader.optional(found, "holdout", path, lambda n, p: _holdout(reader, n, p))
    priority = reader.optional(
        found, "priority", path, lambda n, p: reader.integer(n, p, -1000, 1000)
    )
    exit_on = reader.optional(found, "exit_on", path, lambda n, p: reader.names(n, p, EXIT_REASONS))
    steps = reader.optional(found, "steps", path, lambda n, p: _steps(reader, n, p))
    if name is None or trigger is None or steps is None:
        raise _Invalid()
    return Flow(
        name=name,
        trigger=trigger,
        steps=steps,
        audience=audience,
        holdout=holdout or 0.0,
        priority=priority or 0,
        exit_on=frozenset(exit_on or DEFAULT_EXIT_ON) | {"ordered"},
        line=node.start_mark.line + 1,
    )


def _holdout(reader: _Reader, node: yaml.Node, path: str) -> float:
    value = reader.number(node, path)
    if not 0 <= value <= Decimal(str(MAX_HOLDOUT)):
        raise reader.error(node, path, f"the holdout is a share from 0 to {MAX_HOLDOUT}")
    return float(value)


def _trigger(reader: _Reader, node: yaml.Node, path: str) -> Trigger:
    found = reader.mapping(
        node, path, allowed=("stages", "inactive_for", "kind", "window"), required=("stages",)
    )
    stages = reader.optional(found, "stages", path, lambda n, p: reader.names(n, p, STAGES))
    if stages == ():
        reader.error(found["stages"], f"{path}.stages", "list at least one stage")
    inactive_for = reader.optional(found, "inactive_for", path, reader.duration)
    kind_text = reader.optional(
        found, "kind", path, lambda n, p: reader.choice(n, p, tuple(TriggerKind))
    )
    kind = TriggerKind(kind_text) if kind_text else TriggerKind.ABANDONMENT
    window = reader.optional(found, "window", path, reader.duration)
    if "window" in found and kind is TriggerKind.ABANDONMENT:
        reader.error(found["window"], f"{path}.window", "a window is for back_in_stock and launch")
    if kind is not TriggerKind.ABANDONMENT and window is None and "window" not in found:
        window = timedelta(days=14)
    if not stages:
        raise _Invalid()
    return Trigger(stages=stages, inactive_for=inactive_for, kind=kind, window=window)


def _steps(reader: _Reader, node: yaml.Node, path: str) -> tuple[Step, ...]:
    items = reader.sequence(node, path)
    if not 1 <= len(items) <= MAX_STEPS:
        raise reader.error(node, path, f"list 1 to {MAX_STEPS} steps")
    steps: list[Step] = []
    for index, item in enumerate(items):
        with reader.collect():
            steps.append(_step(reader, item, f"{path}[{index}]"))
    if len(steps) != len(items):
        raise _Invalid()
    return tuple(steps)


_STEP_KEYS = ("wait", "channel", "template", "when", "offer", "partner_offer", "variants")


def _step(reader: _Reader, node: yaml.Node, path: str) -> Step:
    found = reader.mapping(node, path, allowed=_STEP_KEYS, required=("wait", "channel", "template"))
    wait = reader.optional(found, "wait", path, reader.duration)
    channel_text = reader.optional(
        found, "channel", path, lambda n, p: reader.choice(n, p, tuple(Channel))
    )
    channel = Channel(channel_text) if channel_text else None
    template = reader.optional(found, "template", path, lambda n, p: reader.text(n, p, _TEMPLATE))
    prefix = SMS_CONSENT if channel is Channel.SMS else None
    when = reader.optional(found, "when", path, lambda n, p: reader.expression(n, p, prefix))
    if channel is Channel.SMS and "when" not in found:
        when = compile_expression(SMS_CONSENT)
    offer = reader.optional(found, "offer", path, lambda n, p: _offer(reader, n, p))
    partner = reader.optional(
        found, "partner_offer", path, lambda n, p: reader.text(n, p, _PROGRAM)
    )
    stacked = "offer" in found and "partner_offer" in found
    if stacked:
        # Offers never stack: a shopper sees the store's code or a partner's, not both.
        reader.error(
            found["partner_offer"],
            f"{path}.partner_offer",
            "a step has either offer or partner_offer, not both (offers never stack)",
        )
    variants = reader.optional(found, "variants", path, lambda n, p: _variants(reader, n, p))
    if wait is None or channel is None or template is None or stacked:
        raise _Invalid()
    optional = (("when", when), ("offer", offer), ("partner_offer", partner))
    if any(key in found and value is None for key, value in optional):
        raise _Invalid()
    return Step(
        wait=wait,
        channel=channel,
        template=template,
        when=when,
        offer=offer,
        variants=variants or (),
        partner_offer=partner,
    )


_OFFER_KEYS = (
    "kind",
    "value",
    "expires_in",
    "when",
    "exclude",
    "min_total",
    "first_time_only",
    "max_per_contact",
    "margin_floor",
)


def _offer(reader: _Reader, node: yaml.Node, path: str) -> Offer:
    found = reader.mapping(node, path, allowed=_OFFER_KEYS, required=("kind",))
    kind_text = reader.optional(
        found, "kind", path, lambda n, p: reader.choice(n, p, tuple(OfferKind))
    )
    kind = OfferKind(kind_text) if kind_text else None
    value = reader.optional(found, "value", path, reader.number)
    if kind is not None and "value" in found and value is not None:
        _check_offer_value(reader, found["value"], f"{path}.value", kind, value)
    elif kind in (OfferKind.PERCENT, OfferKind.FIXED) and "value" not in found:
        reader.error(node, path, f"a {kind} offer needs a value")
    expires_in = reader.optional(found, "expires_in", path, reader.duration)
    when = reader.optional(found, "when", path, reader.expression)
    exclude = reader.optional(found, "exclude", path, lambda n, p: _exclude(reader, n, p))
    limits = _offer_limits(reader, found, path)
    if kind is None or len(limits) != sum(key in found for key in _LIMIT_KEYS):
        raise _Invalid()
    if "expires_in" in found and expires_in is None:
        raise _Invalid()
    return Offer(
        kind=kind,
        value=value if value is not None else Decimal(0),
        expires_in=expires_in,
        when=when,
        exclude=exclude or (),
        **limits,
    )


_LIMIT_KEYS = ("min_total", "first_time_only", "max_per_contact", "margin_floor")


def _offer_limits(reader: _Reader, found: dict[str, yaml.Node], path: str) -> dict[str, Any]:
    """
    The offer's optional built-in rules that were given and readable (errors recorded).
    """
    readers: dict[str, Callable[[yaml.Node, str], Any]] = {
        "min_total": lambda n, p: _min_total(reader, n, p),
        "first_time_only": reader.flag,
        "max_per_contact": lambda n, p: reader.integer(n, p, 1, MAX_OFFERS_PER_CONTACT),
        "margin_floor": lambda n, p: _margin_floor(reader, n, p),
    }
    limits = {key: reader.optional(found, key, path, read) for key, read in readers.items()}
    return {key: value for key, value in limits.items() if value is not None}


def _min_total(reader: _Reader, node: yaml.Node, path: str) -> Decimal:
    value = reader.number(node, path)
    if not 0 < value <= MAX_MIN_TOTAL:
        raise reader.error(
            node, path, f"a minimum total is an amount above 0 and at most {MAX_MIN_TOTAL}"
        )
    return value


def _margin_floor(reader: _Reader, node: yaml.Node, path: str) -> Decimal:
    value = reader.number(node, path)
    if not 0 <= value < 1:
        raise reader.error(node, path, "a margin floor is a fraction from 0 to below 1 (0.25)")
    return value


def _check_offer_value(
    reader: _Reader, node: yaml.Node, path: str, kind: OfferKind, value: Decimal
) -> None:
    if kind is OfferKind.PERCENT and not 0 < value <= 100:
        reader.error(node, path, "a percent offer is more than 0 and at most 100")
    elif kind is OfferKind.FIXED and not value > 0:
        reader.error(node, path, "a fixed offer is an amount above 0 (store currency)")
    elif kind is OfferKind.FREE_SHIPPING and value != 0:
        reader.error(node, path, "a free_shipping offer takes no value")


def _exclude(reader: _Reader, node: yaml.Node, path: str) -> tuple[str, ...]:
    values: list[str] = []
    for index, item in enumerate(reader.sequence(node, path)):
        where = f"{path}[{index}]"
        with reader.collect():
            value = reader.text(item, where)
            if not _EXCLUDE.fullmatch(value):
                raise reader.error(
                    item, where, f"{value!r}: write on_sale, category:NAME, sku:SKU or product:ID"
                )
            values.append(value)
    return tuple(values)


def _variants(reader: _Reader, node: yaml.Node, path: str) -> tuple[Variant, ...]:
    variants: list[Variant] = []
    for index, item in enumerate(reader.sequence(node, path)):
        where = f"{path}[{index}]"
        with reader.collect():
            variant = _variant(reader, item, where)
            if any(v.name == variant.name for v in variants):
                raise reader.error(item, f"{where}.name", f"{variant.name!r} is used twice")
            variants.append(variant)
    if sum(Decimal(str(v.share)) for v in variants) > 1:
        raise reader.error(node, path, "the variants' shares add up to more than 1")
    return tuple(variants)


def _variant(reader: _Reader, node: yaml.Node, path: str) -> Variant:
    found = reader.mapping(
        node, path, allowed=("name", "share", "template"), required=("name", "share")
    )
    name = reader.optional(found, "name", path, lambda n, p: reader.text(n, p, _NAME))
    share = reader.optional(found, "share", path, reader.number)
    if share is not None and not 0 < share <= 1:
        reader.error(found["share"], f"{path}.share", "a share is more than 0 and at most 1")
        share = None
    template = reader.optional(found, "template", path, lambda n, p: reader.text(n, p, _TEMPLATE))
    if name is None or share is None:
        raise _Invalid()
    return Variant(name=name, share=float(share), template=template)


def _defaults(reader: _Reader, node: yaml.Node, path: str) -> FlowDefaults:
    found = reader.mapping(
        node, path, allowed=("quiet_hours", "frequency_cap", "hand_to_ads_after")
    )
    base = FlowDefaults()
    quiet = reader.optional(found, "quiet_hours", "defaults", lambda n, p: _quiet(reader, n, p))
    cap = reader.optional(found, "frequency_cap", "defaults", lambda n, p: _cap(reader, n, p))
    hand_off = reader.optional(
        found, "hand_to_ads_after", "defaults", lambda n, p: reader.integer(n, p, 1, 20)
    )
    return FlowDefaults(
        quiet_hours={**base.quiet_hours, **(quiet or {})},
        frequency_cap=cap or base.frequency_cap,
        hand_to_ads_after=hand_off,
    )


def _quiet(reader: _Reader, node: yaml.Node, path: str) -> dict[str, QuietHours]:
    found = reader.mapping(node, path, allowed=tuple(Channel))
    windows: dict[str, QuietHours] = {}
    for channel, value in found.items():
        with reader.collect():
            text = reader.text(value, f"{path}.{channel}")
            match = _WINDOW.fullmatch(text)
            if not match:
                raise reader.error(
                    value, f"{path}.{channel}", f"{text!r}: write it like 09:00-20:00"
                )
            h1, m1, h2, m2 = (int(g) for g in match.groups())
            if (h2, m2) > (24, 0) or (h1, m1) == (h2 % 24, m2):
                raise reader.error(value, f"{path}.{channel}", f"{text!r} is not a window")
            if (h2, m2) < (h1, m1):
                # A window past midnight is not supported yet: refuse it rather than drop it.
                raise reader.error(
                    value,
                    f"{path}.{channel}",
                    f"{text!r} passes midnight; a sending window must end on the day it starts",
                )
            end = time(23, 59, 59) if h2 == 24 else time(h2, m2)
            windows[channel] = QuietHours(start=time(h1, m1), end=end)
    return windows


def _cap(reader: _Reader, node: yaml.Node, path: str) -> FrequencyCap:
    found = reader.mapping(node, path, allowed=("messages", "per"), required=("messages", "per"))
    messages = reader.optional(found, "messages", path, lambda n, p: reader.integer(n, p, 1, 100))
    per = reader.optional(found, "per", path, reader.duration)
    if messages is None or per is None:
        raise _Invalid()
    return FrequencyCap(messages=messages, per=per)


# --- JSON ----------------------------------------------------------------------------------


def flow_json(flow: Flow) -> dict[str, Any]:
    """
    A flow as plain JSON values (durations written as in the file, money as strings).
    """
    trigger = flow.trigger
    return {
        "name": flow.name,
        "trigger": {
            "kind": trigger.kind.value,
            "stages": list(trigger.stages),
            "inactive_for": _duration(trigger.inactive_for),
            "window": _duration(trigger.window),
        },
        "audience": flow.audience.source if flow.audience else None,
        "holdout": flow.holdout,
        "priority": flow.priority,
        "exit_on": sorted(flow.exit_on),
        "steps": [_step_json(step) for step in flow.steps],
    }


def _step_json(step: Step) -> dict[str, Any]:
    offer = step.offer
    return {
        "wait": format_duration(step.wait),
        "channel": step.channel.value,
        "template": step.template,
        "when": step.when.source if step.when else None,
        "offer": None if offer is None else _offer_json(offer),
        "variants": [
            {"name": v.name, "share": v.share, "template": v.template} for v in step.variants
        ],
        "partner_offer": step.partner_offer,
    }


def _offer_json(offer: Offer) -> dict[str, Any]:
    return {
        "kind": offer.kind.value,
        "value": str(offer.value),
        "expires_in": _duration(offer.expires_in),
        "when": offer.when.source if offer.when else None,
        "exclude": list(offer.exclude),
        "min_total": None if offer.min_total is None else str(offer.min_total),
        "first_time_only": offer.first_time_only,
        "max_per_contact": offer.max_per_contact,
        "margin_floor": None if offer.margin_floor is None else str(offer.margin_floor),
    }


def defaults_json(defaults: FlowDefaults) -> dict[str, Any]:
    """
    The file's defaults as plain JSON values.
    """
    cap = defaults.frequency_cap
    return {
        "quiet_hours": {channel: str(window) for channel, window in defaults.quiet_hours.items()},
        "frequency_cap": {"messages": cap.messages, "per": format_duration(cap.per)},
        "hand_to_ads_after": defaults.hand_to_ads_after,
    }


def _duration(value: timedelta | None) -> str | None:
    return format_duration(value) if value is not None else None


def iter_expressions(flow: Flow) -> Iterator[Expression]:
    """
    Every compiled expression of a flow (audience, step and offer conditions).
    """
    if flow.audience:
        yield flow.audience
    for step in flow.steps:
        if step.when:
            yield step.when
        if step.offer and step.offer.when:
            yield step.offer.when
