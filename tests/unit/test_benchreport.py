"""benchmarks/report.py writes only its own section of RESULTS.md."""

from benchmarks import report
from benchmarks import schedreport

SCHEDULING = schedreport.BEGIN + "\n## Scheduling\n\nkept as written\n" + schedreport.END + "\n"


def section(text):
    return report.BEGIN + "\n" + text + "\n" + report.END + "\n"


def test_a_new_file_gets_the_title_and_the_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    report.write(str(path), section("first"))
    assert path.read_text() == report.TITLE + "\n" + section("first")


def test_only_the_launch_section_is_replaced(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text(report.TITLE + "\n" + section("old") + "\n" + SCHEDULING)
    report.write(str(path), section("new"))
    text = path.read_text()
    assert "new" in text and "old" not in text
    assert text.endswith(SCHEDULING) and text.count(report.BEGIN) == 1


def test_a_file_from_before_the_markers_keeps_its_scheduling_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# results\n\nthe old launch report\n\n" + SCHEDULING)
    report.write(str(path), section("new"))
    text = path.read_text()
    assert "the old launch report" not in text
    assert text.startswith(report.TITLE) and SCHEDULING.strip() in text and "new" in text
