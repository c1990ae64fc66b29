//! Column conversions for date and time types (features `chrono` and `time`).
//!
//! SQLite has no date type: dates are text, written by plugins as RFC 3339 (what chrono
//! serializes) or by SQLite's own functions as `YYYY-MM-DD HH:MM:SS`. PostgreSQL values
//! arrive per PROTOCOL.md section 4: `timestamptz` as RFC 3339 in UTC, `timestamp` as
//! `YYYY-MM-DDTHH:MM:SS[.ffffff]`, `date` as `YYYY-MM-DD`. Both spellings are read.

#[cfg(any(feature = "chrono", feature = "time"))]
use serde_json::Value;

#[cfg(any(feature = "chrono", feature = "time"))]
use crate::__private::{Reads, read};
#[cfg(any(feature = "chrono", feature = "time"))]
use crate::decode::{Expected, FromSqlValue};

#[cfg(any(feature = "chrono", feature = "time"))]
fn text<'a>(value: &'a Value, expected: &'static str) -> Result<&'a str, Expected> {
    value.as_str().ok_or(Expected(expected))
}

#[cfg(feature = "chrono")]
mod chrono_impls {
    use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc};

    use super::{Expected, FromSqlValue, Reads, Value, read, text};

    const DATETIME: &str = "DateTime<Utc> (RFC 3339 text)";
    const NAIVE: &str = "NaiveDateTime (YYYY-MM-DD HH:MM:SS[.f] text)";

    impl FromSqlValue for DateTime<Utc> {
        const READS: Reads = Reads::of(read::TIMESTAMPTZ | read::TIMESTAMP | read::TEXT);

        fn from_sql_value(value: &Value) -> Result<Self, Expected> {
            let s = text(value, DATETIME)?;
            DateTime::parse_from_rfc3339(s)
                .map(|d| d.with_timezone(&Utc))
                // SQLite's datetime() has no offset: it is UTC.
                .or_else(|_| naive(s).map(|n| n.and_utc()))
                .map_err(|_| Expected(DATETIME))
        }
    }

    impl FromSqlValue for NaiveDateTime {
        const READS: Reads = Reads::of(read::TIMESTAMP | read::TIMESTAMPTZ | read::TEXT);

        fn from_sql_value(value: &Value) -> Result<Self, Expected> {
            naive(text(value, NAIVE)?).map_err(|_| Expected(NAIVE))
        }
    }

    impl FromSqlValue for NaiveDate {
        const READS: Reads = Reads::of(read::DATE | read::TEXT);

        fn from_sql_value(value: &Value) -> Result<Self, Expected> {
            NaiveDate::parse_from_str(text(value, "NaiveDate")?, "%Y-%m-%d")
                .map_err(|_| Expected("NaiveDate (YYYY-MM-DD text)"))
        }
    }

    impl FromSqlValue for NaiveTime {
        const READS: Reads = Reads::of(read::TIME | read::TEXT);

        fn from_sql_value(value: &Value) -> Result<Self, Expected> {
            NaiveTime::parse_from_str(text(value, "NaiveTime")?, "%H:%M:%S%.f")
                .map_err(|_| Expected("NaiveTime (HH:MM:SS[.f] text)"))
        }
    }

    fn naive(s: &str) -> chrono::ParseResult<NaiveDateTime> {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f"))
    }
}

#[cfg(feature = "time")]
mod time_impls {
    use time::format_description::well_known::Rfc3339;
    use time::macros::format_description;
    use time::{Date, OffsetDateTime, PrimitiveDateTime};

    use super::{Expected, FromSqlValue, Reads, Value, read, text};

    const OFFSET: &str = "OffsetDateTime (RFC 3339 text)";
    const PRIMITIVE: &str = "PrimitiveDateTime (YYYY-MM-DD HH:MM:SS[.f] text)";

    impl FromSqlValue for OffsetDateTime {
        const READS: Reads = Reads::of(read::TIMESTAMPTZ | read::TIMESTAMP | read::TEXT);

        fn from_sql_value(value: &Value) -> Result<Self, Expected> {
            let s = text(value, OFFSET)?;
            OffsetDateTime::parse(s, &Rfc3339)
                .or_else(|_| primitive(s).map(PrimitiveDateTime::assume_utc))
                .map_err(|_| Expected(OFFSET))
        }
    }

    impl FromSqlValue for PrimitiveDateTime {
        const READS: Reads = Reads::of(read::TIMESTAMP | read::TIMESTAMPTZ | read::TEXT);

        fn from_sql_value(value: &Value) -> Result<Self, Expected> {
            primitive(text(value, PRIMITIVE)?).map_err(|_| Expected(PRIMITIVE))
        }
    }

    impl FromSqlValue for Date {
        const READS: Reads = Reads::of(read::DATE | read::TEXT);

        fn from_sql_value(value: &Value) -> Result<Self, Expected> {
            Date::parse(
                text(value, "Date")?,
                format_description!("[year]-[month]-[day]"),
            )
            .map_err(|_| Expected("Date (YYYY-MM-DD text)"))
        }
    }

    fn primitive(s: &str) -> Result<PrimitiveDateTime, time::error::Parse> {
        let t = format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        let space = format_description!(
            "[year]-[month]-[day] [hour]:[minute]:[second][optional [.[subsecond]]]"
        );
        PrimitiveDateTime::parse(s, t).or_else(|_| PrimitiveDateTime::parse(s, space))
    }
}

#[cfg(all(test, feature = "chrono", feature = "time"))]
mod tests {
    use serde_json::json;

    use crate::FromSqlValue;

    #[test]
    fn chrono_reads_both_spellings() {
        use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
        let rfc = DateTime::<Utc>::from_sql_value(&json!("2026-11-26T10:00:00.5+02:00")).unwrap();
        assert_eq!(rfc.to_rfc3339(), "2026-11-26T08:00:00.500+00:00");
        let sqlite = DateTime::<Utc>::from_sql_value(&json!("2026-11-26 08:00:00")).unwrap();
        assert_eq!(sqlite.to_rfc3339(), "2026-11-26T08:00:00+00:00");
        assert!(NaiveDateTime::from_sql_value(&json!("2026-11-26T08:00:00.123456")).is_ok());
        assert_eq!(
            NaiveDate::from_sql_value(&json!("2026-02-28"))
                .unwrap()
                .to_string(),
            "2026-02-28"
        );
        assert!(NaiveDate::from_sql_value(&json!("2026-02-30")).is_err());
        assert!(DateTime::<Utc>::from_sql_value(&json!(5)).is_err());
    }

    #[test]
    fn time_reads_both_spellings() {
        use time::{Date, OffsetDateTime, PrimitiveDateTime};
        let rfc = OffsetDateTime::from_sql_value(&json!("2026-11-26T10:00:00Z")).unwrap();
        assert_eq!(rfc.unix_timestamp(), 1_795_687_200);
        let sqlite = OffsetDateTime::from_sql_value(&json!("2026-11-26 10:00:00")).unwrap();
        assert_eq!(sqlite, rfc);
        assert!(PrimitiveDateTime::from_sql_value(&json!("2026-11-26T10:00:00.25")).is_ok());
        assert!(Date::from_sql_value(&json!("2026-11-26")).is_ok());
        assert!(Date::from_sql_value(&json!("26/11/2026")).is_err());
    }
}
