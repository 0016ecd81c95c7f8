//! Working days: Monday to Friday, less a configurable holiday calendar. The review clock
//! counts them from submission and stops while the applicant is asked for information.

use std::collections::BTreeSet;

use chrono::{Datelike, Duration, NaiveDate, Weekday};

/// Which days count.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorkingCalendar {
    holidays: BTreeSet<NaiveDate>,
}

impl WorkingCalendar {
    pub fn new(holidays: impl IntoIterator<Item = NaiveDate>) -> Self {
        WorkingCalendar {
            holidays: holidays.into_iter().collect(),
        }
    }

    pub fn is_working_day(&self, day: NaiveDate) -> bool {
        !matches!(day.weekday(), Weekday::Sat | Weekday::Sun) && !self.holidays.contains(&day)
    }

    /// Working days `d` with `from < d <= to` (zero when `to <= from`).
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> i64 {
        let mut count = 0;
        let mut day = from;
        while day < to {
            day += Duration::days(1);
            if self.is_working_day(day) {
                count += 1;
            }
        }
        count
    }

    /// The day on which `n` working days after `from` have passed.
    pub fn add_working_days(&self, from: NaiveDate, n: i64) -> NaiveDate {
        let mut day = from;
        let mut left = n;
        while left > 0 {
            day += Duration::days(1);
            if self.is_working_day(day) {
                left -= 1;
            }
        }
        day
    }
}

/// A period during which the clock stood still: from the day an information request was
/// opened to the day it was answered (still open: `None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pause {
    pub from: NaiveDate,
    pub until: Option<NaiveDate>,
}

/// The review clock of one case on `today`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReviewClock {
    /// Working days since submission that count against the target.
    pub elapsed_working_days: i64,
    /// Working days the clock stood still.
    pub paused_working_days: i64,
    pub target_working_days: i64,
    /// The day the target is reached, if the clock is running; moves when it pauses.
    pub due_date: NaiveDate,
    pub paused: bool,
    /// Past the due date with the clock running.
    pub overdue: bool,
}

impl ReviewClock {
    /// Computes the clock from the submission day, the pauses and the target.
    pub fn compute(
        calendar: &WorkingCalendar,
        submitted: NaiveDate,
        pauses: &[Pause],
        target_working_days: i64,
        today: NaiveDate,
    ) -> ReviewClock {
        let total = calendar.working_days_between(submitted, today);
        let paused_working_days: i64 = pauses
            .iter()
            .map(|p| {
                calendar.working_days_between(
                    p.from.max(submitted),
                    p.until.unwrap_or(today).min(today),
                )
            })
            .sum();
        let paused = pauses.iter().any(|p| p.until.is_none());
        let elapsed = total - paused_working_days;
        let due_date =
            calendar.add_working_days(submitted, target_working_days + paused_working_days);
        ReviewClock {
            elapsed_working_days: elapsed,
            paused_working_days,
            target_working_days,
            due_date,
            paused,
            overdue: !paused && today > due_date,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_friday_submission_skips_the_weekend_and_a_monday_holiday() {
        // Friday 2025-05-02; Monday 2025-05-05 is a holiday.
        let calendar = WorkingCalendar::new([d(2025, 5, 5)]);
        assert_eq!(
            calendar.working_days_between(d(2025, 5, 2), d(2025, 5, 5)),
            0
        );
        assert_eq!(
            calendar.working_days_between(d(2025, 5, 2), d(2025, 5, 6)),
            1
        );
        assert_eq!(
            calendar.working_days_between(d(2025, 5, 2), d(2025, 5, 9)),
            4
        );
        assert_eq!(calendar.add_working_days(d(2025, 5, 2), 1), d(2025, 5, 6));
    }

    #[test]
    fn days_awaiting_the_applicant_do_not_count() {
        let calendar = WorkingCalendar::default();
        // Submitted Monday 2025-06-02; asked Wednesday 06-04; answered Wednesday 06-11
        // (5 working days later); today Friday 06-13.
        let pauses = [Pause {
            from: d(2025, 6, 4),
            until: Some(d(2025, 6, 11)),
        }];
        let clock = ReviewClock::compute(&calendar, d(2025, 6, 2), &pauses, 30, d(2025, 6, 13));
        assert_eq!(clock.paused_working_days, 5);
        assert_eq!(clock.elapsed_working_days, 9 - 5);
        assert_eq!(clock.due_date, calendar.add_working_days(d(2025, 6, 2), 35));
        assert!(!clock.overdue);
    }

    #[test]
    fn an_open_request_stops_the_clock_and_nothing_is_overdue_meanwhile() {
        let calendar = WorkingCalendar::default();
        let pauses = [Pause {
            from: d(2025, 6, 3),
            until: None,
        }];
        let clock = ReviewClock::compute(&calendar, d(2025, 6, 2), &pauses, 1, d(2025, 7, 30));
        assert_eq!(clock.elapsed_working_days, 1);
        assert!(clock.paused);
        assert!(!clock.overdue);
    }

    #[test]
    fn past_the_target_is_overdue() {
        let calendar = WorkingCalendar::default();
        let clock = ReviewClock::compute(&calendar, d(2025, 6, 2), &[], 2, d(2025, 6, 6));
        assert_eq!(clock.elapsed_working_days, 4);
        assert!(clock.overdue);
    }
}
