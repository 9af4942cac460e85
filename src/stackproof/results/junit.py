"""JUnit XML for CI systems: one testcase per test, its requirement IDs as properties."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Sequence

from stackproof.results.model import TestResult

_OUTCOME_ELEMENT = {"fail": "failure", "error": "error", "skip": "skipped"}


def _suite_of(nodeid: str) -> str:
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    return parts[-2] if len(parts) > 1 else "suites"


def _classname(nodeid: str) -> str:
    path, _, _ = nodeid.partition("::")
    return path.removesuffix(".py").replace("/", ".")


def junit_xml(tests: Sequence[TestResult], name: str = "stackproof") -> str:
    by_suite: dict[str, list[TestResult]] = defaultdict(list)
    for test in tests:
        by_suite[_suite_of(test.nodeid)].append(test)
    root = ET.Element("testsuites", name=name)
    for suite_name, members in sorted(by_suite.items()):
        suite = ET.SubElement(
            root,
            "testsuite",
            name=suite_name,
            tests=str(len(members)),
            failures=str(sum(t.outcome == "fail" for t in members)),
            errors=str(sum(t.outcome == "error" for t in members)),
            skipped=str(sum(t.outcome == "skip" for t in members)),
            time=f"{sum(t.duration_s for t in members):.3f}",
        )
        for test in members:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=_classname(test.nodeid),
                name=test.nodeid.partition("::")[2] or test.nodeid,
                time=f"{test.duration_s:.3f}",
            )
            properties = ET.SubElement(case, "properties")
            for requirement in test.requirements:
                ET.SubElement(properties, "property", name="requirement", value=requirement)
            if element := _OUTCOME_ELEMENT.get(test.outcome):
                message = (test.message or "").strip()
                detail = ET.SubElement(
                    case, element, message=message.splitlines()[0] if message else ""
                )
                detail.text = message
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(suite.get(key, "0")) for suite in root)))
    ET.indent(root)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
