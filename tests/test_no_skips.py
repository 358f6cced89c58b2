"""The suite's own guard: a skipped test turns a green run red."""


def test_a_skipped_test_fails_the_run(pytester):
    pytester.makepyfile(
        """
        import pytest

        def test_ran():
            assert True

        @pytest.mark.skipif(True, reason="no database here")
        def test_needs_a_database():
            pass
        """
    )
    result = pytester.runpytest("-p", "no_skips")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*FAILED: 1 test(s) skipped*"])


def test_a_run_without_skips_stays_green(pytester):
    pytester.makepyfile("def test_ran():\n    assert True\n")
    result = pytester.runpytest("-p", "no_skips")
    assert result.ret == 0
