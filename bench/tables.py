"""How docs/benchmarks.md's tables write numbers and verdicts (the bench/report package
and the sections it takes from the scenarios' modules)."""


def fmt(value: float, digits: int = 0) -> str:
    return f"{value:,.{digits}f}"


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**pass**" if ok else "**FAIL**")
