"""An independent brute-force checker of the reasoning rows' facts (shares no code with the generator).

Parses the facts column (``Jack=12; Kate>Jane; Kate=Jane+3; Kate*2=Jane; Kate+5=20; ?Kate``)
and searches every assignment of ages 1..99 to the people it names, collecting every answer
the query can take. A row is sound when exactly one answer exists and it is the row's answer.
"""

from __future__ import annotations

import re

AGES = range(1, 100)
NAME = r"([A-Z][A-Za-z]*)"
RULES = [
    (re.compile(rf"^{NAME}=(\d+)$"), lambda m: ([m[1]], lambda a: a[m[1]] == int(m[2]))),
    (re.compile(rf"^{NAME}>{NAME}$"), lambda m: ([m[1], m[2]], lambda a: a[m[1]] > a[m[2]])),
    (re.compile(rf"^{NAME}<{NAME}$"), lambda m: ([m[1], m[2]], lambda a: a[m[1]] < a[m[2]])),
    (re.compile(rf"^{NAME}={NAME}([+-])(\d+)$"),
     lambda m: ([m[1], m[2]], lambda a: a[m[1]] == a[m[2]] + (int(m[4]) if m[3] == "+" else -int(m[4])))),
    (re.compile(rf"^{NAME}={NAME}\*(\d+)$"), lambda m: ([m[1], m[2]], lambda a: a[m[1]] == a[m[2]] * int(m[3]))),
    (re.compile(rf"^{NAME}\*(\d+)={NAME}$"), lambda m: ([m[1], m[3]], lambda a: a[m[1]] * int(m[2]) == a[m[3]])),
    (re.compile(rf"^{NAME}([+-])(\d+)=(\d+)$"),
     lambda m: ([m[1]], lambda a: a[m[1]] + (int(m[3]) if m[2] == "+" else -int(m[3])) == int(m[4]))),
]
RANKS = {"oldest": (True, 0), "youngest": (False, 0), "second_oldest": (True, 1), "second_youngest": (False, 1)}


def parse(facts: str):
    """(constraints as (people, test) pairs, every person, the query text)."""
    *statements, query = [s.strip() for s in facts.split(";")]
    assert query.startswith("?"), facts
    constraints, people = [], []
    for statement in statements:
        for pattern, build in RULES:
            match = pattern.match(statement)
            if match:
                names, test = build(match)
                constraints.append((names, test))
                people += [n for n in names if n not in people]
                break
        else:
            raise AssertionError(f"unparsed statement {statement!r} in {facts!r}")
    return constraints, people, query[1:]


def solutions(facts: str, limit: int = 2) -> set[str]:
    """Every answer the query takes over all consistent age assignments (stops after ``limit``)."""
    constraints, people, query = parse(facts)
    answers: set[str] = set()

    def ready(assigned):
        return [test for names, test in constraints if all(n in assigned for n in names)]

    def search(assigned: dict[str, int], order: list[str]) -> None:
        if len(answers) >= limit:
            return
        if not order:
            answers.add(_answer(query, assigned))
            return
        # the next person: the one most tied by constraints to those already assigned
        person = max(order, key=lambda p: sum(p in names and all(n in assigned or n == p for n in names)
                                              for names, _ in constraints))
        rest = [p for p in order if p != person]
        for age in AGES:
            assigned[person] = age
            if all(test(assigned) for test in ready(assigned)):
                search(assigned, rest)
            del assigned[person]

    search({}, list(people))
    return answers


def single_answer(facts: str) -> str | None:
    """The row's one answer (an age or one name) when the facts allow exactly one, else None.

    A tie ("A|B"), "not older" or "out of range" as the only outcome is no answer either.
    """
    answers = solutions(facts)
    if len(answers) != 1:
        return None
    (answer,) = answers
    return answer if re.fullmatch(r"\d+|[A-Z][A-Za-z]*", answer) else None


def _answer(query: str, ages: dict[str, int]) -> str:
    if query in RANKS:
        oldest_first, rank = RANKS[query]
        chosen = sorted(ages.values(), reverse=oldest_first)[rank]
        holders = sorted(p for p, a in ages.items() if a == chosen)
        return "|".join(holders)  # a tie names several people: not one answer
    match = re.match(rf"^{NAME}-{NAME}$", query)
    if match:
        difference = ages[match[1]] - ages[match[2]]
        return str(difference) if difference > 0 else "not older"
    match = re.match(rf"^{NAME}([+-])(\d+)$", query)
    if match:
        value = ages[match[1]] + (int(match[3]) if match[2] == "+" else -int(match[3]))
        return str(value) if 1 <= value <= 99 else "out of range"
    return str(ages[query])
