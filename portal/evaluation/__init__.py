"""Evaluation: the committee, recusal, expert draws, scoring, ranking and the award timetable (issue 5)."""
