"""Numbers and states as the dashboard shows them: short, aligned, coloured where it helps.
Times are formatted in an injected time zone so snapshot tests are identical anywhere."""

from __future__ import annotations

from datetime import datetime, tzinfo

from rich.text import Text

__all__ = ["age", "circuit", "clock_time", "count", "health_bar", "latency", "percent", "rate",
           "status", "usage", "usd", "when"]

_EIGHTHS = " ▏▎▍▌▋▊▉"


def health_colour(score: int) -> str:
    return "green" if score >= 80 else "yellow" if score >= 50 else "red"


def health_bar(score: int, width: int = 8) -> Text:
    """A bar of `width` cells (eighths of a cell resolution) and the score, coloured."""
    score = max(0, min(100, score))
    eighths = round(score / 100 * width * 8)
    full, part = divmod(eighths, 8)
    bar = "█" * full + (_EIGHTHS[part] if part else "")
    text = Text(bar.ljust(width), style=health_colour(score))
    text.append(f"{score:>4}", style=f"bold {health_colour(score)}")
    return text


def circuit(state: str, open_for_s: float = 0.0) -> Text:
    if state == "open":
        return Text(f"open {open_for_s:.0f}s" if open_for_s else "open", style="bold red")
    if state == "half_open" or state == "half-open":
        return Text("half", style="yellow")
    return Text("closed", style="green")


def count(n: float) -> str:
    """1234 -> 1.2k, 2500000 -> 2.5M, 1000 -> 1k."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= size:
            return f"{n / size:.1f}".removesuffix(".0") + suffix
    return f"{n:.0f}"


def rate(rps: float) -> str:
    return f"{rps:.1f}" if rps < 100 else f"{rps:.0f}"


def latency(ms: float | None) -> str:
    if ms is None:
        return "-"
    if ms < 10:
        return f"{ms:.1f}ms"
    if ms < 1000:
        return f"{ms:.0f}ms"
    return f"{ms / 1000:.1f}s"


def percent(fraction: float) -> Text:
    style = "red" if fraction >= 0.05 else "yellow" if fraction > 0 else ""
    if not fraction:
        return Text("0%")
    shown = f"{fraction * 100:.1f}%" if fraction < 0.1 else f"{fraction * 100:.0f}%"
    return Text(shown, style=style)


def usage(used: int, limit: int | None) -> Text:
    """`12/60` coloured by how close to the limit; just the count when there is none."""
    if not limit:
        return Text(count(used))
    share = used / limit
    style = "red" if share >= 0.9 else "yellow" if share >= 0.7 else ""
    return Text(f"{count(used)}/{count(limit)}", style=style)


def usd(value: float) -> str:
    if value == 0:
        return "$0"
    if value < 0.01:
        return f"${value:.4f}"
    return f"${value:,.2f}"


def status(code: int) -> Text:
    style = "green" if code < 300 else "yellow" if code < 500 and code != 499 else "red"
    if code == 499:
        style = "dim"
    return Text(str(code), style=style)


def clock_time(ts: float, tz: tzinfo | None) -> str:
    return datetime.fromtimestamp(ts, tz).strftime("%H:%M:%S")


def when(ts: float, now: float, tz: tzinfo | None) -> str:
    """A coming moment: `in 5h (00:00)`, `in 3d (Dec 01)`."""
    left = max(0.0, ts - now)
    moment = datetime.fromtimestamp(ts, tz)
    if left < 86400:
        return f"in {left / 3600:.0f}h ({moment:%H:%M})" if left >= 3600 \
            else f"in {left / 60:.0f}m ({moment:%H:%M})"
    return f"in {left / 86400:.0f}d ({moment:%b %d})"


def age(ts: float | None, now: float) -> str:
    """`5s`, `3m`, `2h`, `4d` ago; `never` for None."""
    if ts is None:
        return "never"
    seconds = max(0.0, now - ts)
    for size, suffix in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds / size:.0f}{suffix} ago"
    return f"{seconds:.0f}s ago"
