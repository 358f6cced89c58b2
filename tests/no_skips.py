"""A pytest plugin: any skipped test fails the run. A database or browser test that did not
run proves nothing, so CI must not go green around it."""

from __future__ import annotations

import pytest


class NoSkips:
    def __init__(self) -> None:
        self.skipped: list[str] = []

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped and report.nodeid not in self.skipped:
            self.skipped.append(report.nodeid)

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        if self.skipped and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.skipped:
            terminalreporter.write_line(
                f"FAILED: {len(self.skipped)} test(s) skipped, and a skipped test fails this suite: "
                + ", ".join(self.skipped[:10]),
                red=True,
            )


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(NoSkips(), "gisgrid-no-skips")
