//! Value conversion tested against a real PostgreSQL: every expectation is either a
//! literal the database's answer must equal, or the database's own text or JSON rendering
//! of the same value.

use serde_json::{Value, json};
use sql_core::value::SqlValue;
use sql_test_harness::TestDatabase;
use tokio_postgres::types::{Kind, ToSql, Type};
use tokio_postgres::{Client, NoTls};

use super::{Param, check_columns, check_params, column_to_json, param_error_index};
use crate::engine::ExecError;

async fn connect(db: &TestDatabase) -> Client {
    let (client, connection) = tokio_postgres::connect(db.url(), NoTls).await.unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
        .batch_execute(
            "CREATE TYPE mood AS ENUM ('sad', 'happy');
             CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
             CREATE DOMAIN price AS numeric(10,2);
             CREATE DOMAIN blob AS bytea;
             CREATE EXTENSION citext;",
        )
        .await
        .unwrap();
    client
}

/// What a result must equal.
enum Expect {
    /// This JSON value.
    Lit(Value),
    /// The value's own text form, `(expr)::text`.
    Text,
    /// PostgreSQL's own JSON for it, `to_json(expr)`.
    ToJson,
    /// PostgreSQL's JSON for the timestamptz in UTC, with `Z` for its zone.
    Utc,
    /// PostgreSQL's own base64 of the bytes (short values: no line breaks).
    Base64,
    /// The number PostgreSQL prints, `(expr)::text`, read with Rust's exact parser
    /// (serde_json's default parser can be one ulp off, as it is for -1.5e-40).
    Float,
}

use Expect::{Base64, Float, Lit, Text, ToJson, Utc};

/// Runs `SELECT expr`, decodes it, and compares with the expectation.
async fn check_result(client: &Client, expr: &str, expect: &Expect) {
    let oracle = match expect {
        Lit(_) => "NULL::text".to_owned(),
        Text | Float => format!("({expr})::text"),
        ToJson => format!("to_json({expr})::text"),
        Utc => format!("to_json(({expr}) AT TIME ZONE 'UTC')::text"),
        Base64 => format!("encode({expr}, 'base64')"),
    };
    let sql = format!("SELECT {expr} AS v, {oracle} AS o");
    let statement = client.prepare(&sql).await.unwrap();
    check_columns(statement.columns()).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let row = client.query_one(&statement, &[]).await.unwrap();
    let got = column_to_json(&row, 0).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let oracle: Option<String> = row.get(1);
    let expected = match expect {
        Lit(value) => value.clone(),
        Text | Base64 => json!(oracle.unwrap()),
        Float => json!(oracle.unwrap().parse::<f64>().unwrap()),
        ToJson => serde_json::from_str(&oracle.unwrap()).unwrap(),
        Utc => {
            let Value::String(local) = serde_json::from_str(&oracle.unwrap()).unwrap() else {
                panic!("{sql}: to_json of a timestamp is a string");
            };
            let zoned = match local.strip_suffix(" BC") {
                Some(date) => format!("{date}Z BC"),
                None if local.contains('T') => format!("{local}Z"),
                None => local,
            };
            json!(zoned)
        }
    };
    assert_eq!(got, expected, "{sql}");
}

#[tokio::test]
async fn results_decode_as_postgres_prints_them() {
    let db = TestDatabase::create();
    let client = connect(&db).await;
    // Decoding must not depend on the session's zone: timestamptz comes back in UTC.
    client
        .batch_execute("SET TimeZone = 'America/New_York'")
        .await
        .unwrap();

    let cases: Vec<(&str, Expect)> = vec![
        // bool, integers, oid, "char"
        ("true", Lit(json!(true))),
        ("false", Lit(json!(false))),
        ("NULL::bool", Lit(Value::Null)),
        ("(-32768)::int2", Lit(json!(-32768))),
        ("32767::int2", Lit(json!(32767))),
        ("(-2147483648)::int4", Lit(json!(-2_147_483_648_i64))),
        ("2147483647::int4", Lit(json!(2_147_483_647))),
        ("(-9223372036854775808)::int8", Lit(json!(i64::MIN))),
        ("9223372036854775807::int8", Lit(json!(i64::MAX))),
        ("NULL::int8", Lit(Value::Null)),
        ("4294967295::oid", Lit(json!(4_294_967_295_u32))),
        ("'a'::\"char\"", Lit(json!("a"))),
        ("'é'::\"char\"", Text),
        // floats: numbers, non-finite as null
        ("real '0.1'", Lit(json!(0.1))),
        ("real '3.4028235e38'", Float),
        ("real '-1.5e-40'", Float),
        ("'NaN'::real", Lit(Value::Null)),
        ("'Infinity'::float4", Lit(Value::Null)),
        ("0.1::float8", Lit(json!(0.1))),
        ("1e308::float8", Float),
        ("5e-324::float8", Float),
        ("(-0.0)::float8", Float),
        ("'NaN'::float8", Lit(Value::Null)),
        ("'Infinity'::float8", Lit(Value::Null)),
        ("'-Infinity'::float8", Lit(Value::Null)),
        // numeric: exact strings, dscale kept
        ("0::numeric", Lit(json!("0"))),
        ("-0.5::numeric", Lit(json!("-0.5"))),
        ("1.50::numeric", Lit(json!("1.50"))),
        ("1.5::numeric(10,2)", Lit(json!("1.50"))),
        (
            "12345678901234567890.000001::numeric",
            Lit(json!("12345678901234567890.000001")),
        ),
        ("'NaN'::numeric", Lit(json!("NaN"))),
        ("'Infinity'::numeric", Lit(json!("Infinity"))),
        ("'-Infinity'::numeric", Lit(json!("-Infinity"))),
        ("NULL::numeric", Lit(Value::Null)),
        ("0.000::numeric", Text),
        ("0.0001::numeric", Text),
        ("0.00001234::numeric", Text),
        ("10000::numeric", Text),
        ("100000000.00000000::numeric", Text),
        ("-123456789.123456789::numeric", Text),
        ("1e-20::numeric", Text),
        ("1e20::numeric", Text),
        ("2::numeric ^ 300", Text),
        ("round(1.0 / 3, 40)", Text),
        ("9999.9999::numeric", Text),
        ("-10000.0001::numeric", Text),
        // text types, enum, citext
        ("'héllo'::text", Lit(json!("héllo"))),
        ("''::text", Lit(json!(""))),
        ("'abc'::varchar(5)", Lit(json!("abc"))),
        ("'ab'::char(4)", Lit(json!("ab  "))),
        ("'pg_class'::name", Lit(json!("pg_class"))),
        ("'happy'::mood", Lit(json!("happy"))),
        ("NULL::mood", Lit(Value::Null)),
        ("'MiXeD'::citext", Lit(json!("MiXeD"))),
        // bytea
        ("'\\x00ff0a'::bytea", Lit(json!("AP8K"))),
        ("''::bytea", Lit(json!(""))),
        ("decode('68656c6c6f21', 'hex')", Base64),
        ("decode('fffefd', 'hex')", Lit(json!("//79"))),
        // json, jsonb
        (
            "'{\"a\": [1, 2.5, null], \"b\": \"x\"}'::json",
            Lit(json!({"a": [1, 2.5, null], "b": "x"})),
        ),
        (
            "'{\"b\": 1, \"a\": [true, {\"c\": -7}]}'::jsonb",
            Lit(json!({"a": [true, {"c": -7}], "b": 1})),
        ),
        ("'\"s\"'::jsonb", Lit(json!("s"))),
        ("'null'::jsonb", Lit(Value::Null)),
        (
            "'12345678901234567'::jsonb",
            Lit(json!(12_345_678_901_234_567_i64)),
        ),
        // uuid
        ("'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11'::uuid", Text),
        (
            "'a0eebc999c0b4ef8bb6d6bb9bd380a11'::uuid",
            Lit(json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11")),
        ),
        // date
        ("'2024-01-02'::date", Lit(json!("2024-01-02"))),
        ("'2000-02-29'::date", ToJson),
        ("'1999-12-31'::date", ToJson),
        ("'1900-03-01'::date", ToJson),
        ("'0001-01-01'::date", ToJson),
        ("'0001-12-31 BC'::date", ToJson),
        ("'0044-03-15 BC'::date", ToJson),
        ("'4713-01-01 BC'::date", ToJson),
        ("'5874897-12-31'::date", ToJson),
        ("'infinity'::date", Lit(json!("infinity"))),
        ("'-infinity'::date", Lit(json!("-infinity"))),
        // time
        ("'04:05:06.5'::time", Lit(json!("04:05:06.5"))),
        ("'00:00:00'::time", ToJson),
        ("'23:59:59.999999'::time", ToJson),
        ("'12:00:00.000010'::time", ToJson),
        ("'24:00:00'::time", ToJson),
        // timestamp
        (
            "'2024-01-02 03:04:05.123456'::timestamp",
            Lit(json!("2024-01-02T03:04:05.123456")),
        ),
        (
            "'2024-01-02 03:04:05'::timestamp",
            Lit(json!("2024-01-02T03:04:05")),
        ),
        ("'1999-12-31 23:59:59.5'::timestamp", ToJson),
        ("'1970-01-01 00:00:00'::timestamp", ToJson),
        ("'1900-03-01 12:00:00.01'::timestamp", ToJson),
        ("'0044-03-15 01:02:03.5 BC'::timestamp", ToJson),
        ("'4713-01-01 00:00:00 BC'::timestamp", ToJson),
        ("'294276-12-31 23:59:59.999999'::timestamp", ToJson),
        ("'infinity'::timestamp", Lit(json!("infinity"))),
        ("'-infinity'::timestamp", Lit(json!("-infinity"))),
        // timestamptz: UTC with Z whatever the session zone
        (
            "'2024-01-02 03:04:05.123456+00'::timestamptz",
            Lit(json!("2024-01-02T03:04:05.123456Z")),
        ),
        (
            "'2024-06-01 12:00:00+02'::timestamptz",
            Lit(json!("2024-06-01T10:00:00Z")),
        ),
        ("'2024-01-02 03:04:05'::timestamptz", Utc),
        ("'1969-12-31 23:59:59.999999+00'::timestamptz", Utc),
        ("'0044-03-15 01:02:03.5+00 BC'::timestamptz", Utc),
        ("'infinity'::timestamptz", Lit(json!("infinity"))),
        ("'-infinity'::timestamptz", Lit(json!("-infinity"))),
        ("NULL::timestamptz", Lit(Value::Null)),
        // interval, in PostgreSQL's default style
        (
            "'1 year 2 mons 3 days 04:05:06.5'::interval",
            Lit(json!("1 year 2 mons 3 days 04:05:06.5")),
        ),
        ("'-1 year -2 mons 3 days -04:05:06.5'::interval", Text),
        ("'0'::interval", Text),
        ("'1 day -01:00'::interval", Text),
        ("'-1 days +01:00'::interval", Text),
        ("'-1 days -01:00'::interval", Text),
        ("'1 mon'::interval", Text),
        ("'-1 mon'::interval", Text),
        ("'-1 year'::interval", Text),
        ("'13 months'::interval", Text),
        ("'25 hours'::interval", Text),
        ("'-0.000001 sec'::interval", Text),
        ("'00:00:00.1'::interval", Text),
        ("'1 day 00:00:00.12'::interval", Text),
        ("'100000 hours 59 min'::interval", Text),
        ("'178000000 years'::interval", Text),
        ("'-178000000 years'::interval", Text),
        ("'2562047788:00:54.775807'::interval", Text),
        (
            "'-2562047788:00:54.775807'::interval - '0.000001 sec'",
            Text,
        ),
        // inet, cidr
        ("'192.168.1.5'::inet", Lit(json!("192.168.1.5"))),
        ("'192.168.1.5/24'::inet", ToJson),
        ("'10.0.0.0/8'::cidr", Lit(json!("10.0.0.0/8"))),
        ("'10.1.2.3/32'::cidr", ToJson),
        ("'0.0.0.0/0'::inet", ToJson),
        ("'::1'::inet", ToJson),
        ("'::'::inet", ToJson),
        ("'fe80::1/64'::inet", ToJson),
        ("'::ffff:1.2.3.4'::inet", ToJson),
        ("'::1.2.3.4'::inet", ToJson),
        ("'::0.0.1.2'::inet", ToJson),
        ("'2001:db8::/32'::cidr", ToJson),
        ("'2001:db8:0:0:1:0:0:1'::inet", ToJson),
        ("'1:0:0:1:0:0:0:1'::inet", ToJson),
        ("'1:0:1:0:1:0:1:0'::inet", ToJson),
        ("'0:0:1::'::inet", ToJson),
        ("'2001:DB8::ABCD'::inet", ToJson),
        // domains (reported as their base type in results) and void
        ("5::posint", Lit(json!(5))),
        ("7::price", Lit(json!("7.00"))),
        ("'\\x01'::blob", Lit(json!("AQ=="))),
        ("pg_sleep(0)", Lit(Value::Null)),
        // arrays: nested by dimension, NULL elements as null
        ("ARRAY[[1, 2], [3, NULL]]::int4[]", ToJson),
        ("ARRAY[[[1], [2]], [[3], [4]], [[5], [6]]]::int8[]", ToJson),
        ("'{}'::int[]", Lit(json!([]))),
        ("NULL::int[]", Lit(Value::Null)),
        ("'[2:3]={7,8}'::int[]", Lit(json!([7, 8]))),
        ("ARRAY['a', NULL, 'c']", ToJson),
        ("ARRAY[true, false, NULL]", ToJson),
        (
            "ARRAY[1.50, NULL, 'NaN']::numeric[]",
            Lit(json!(["1.50", null, "NaN"])),
        ),
        ("ARRAY[0.1, 'Infinity']::float8[]", Lit(json!([0.1, null]))),
        (
            "ARRAY['2024-01-02 03:04:05+00'::timestamptz, 'infinity']",
            Lit(json!(["2024-01-02T03:04:05Z", "infinity"])),
        ),
        ("ARRAY['\\x01'::bytea, '\\x']", Lit(json!(["AQ==", ""]))),
        (
            "ARRAY['{\"a\": 1}'::jsonb, '[2]']",
            Lit(json!([{"a": 1}, [2]])),
        ),
        (
            "ARRAY['1 day'::interval, '-01:00']",
            Lit(json!(["1 day", "-01:00:00"])),
        ),
        ("ARRAY['sad'::mood, 'happy']", Lit(json!(["sad", "happy"]))),
        ("ARRAY[1::posint, 2]", Lit(json!([1, 2]))),
        ("ARRAY[1.5::price]", Lit(json!(["1.50"]))),
        ("ARRAY['10.0.0.1'::inet]", Lit(json!(["10.0.0.1"]))),
        (
            "ARRAY['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::uuid]",
            Lit(json!(["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"])),
        ),
        ("'{{2024-01-02,NULL},{NULL,infinity}}'::date[]", ToJson),
        ("ARRAY['x'::citext]", Lit(json!(["x"]))),
    ];
    for (expr, expect) in &cases {
        check_result(&client, expr, expect).await;
    }
}

/// Runs `sql` with `params` after checking them and its columns; the first column as JSON.
async fn run(client: &Client, sql: &str, params: &[SqlValue]) -> Value {
    let statement = client.prepare(sql).await.unwrap();
    check_params(statement.params(), params).unwrap_or_else(|e| panic!("{sql}: {e}"));
    check_columns(statement.columns()).unwrap_or_else(|e| panic!("{sql}: {e}"));
    let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as _).collect();
    let row = client
        .query_one(&statement, &refs)
        .await
        .unwrap_or_else(|e| panic!("{sql} with {params:?}: {e:?}"));
    column_to_json(&row, 0).unwrap_or_else(|e| panic!("{sql}: {e}"))
}

#[tokio::test]
async fn params_are_converted_by_postgres_to_the_inferred_type() {
    let db = TestDatabase::create();
    let client = connect(&db).await;

    let text = |s: &str| SqlValue::Text(s.to_owned());
    let jsonv = |s: &str| SqlValue::Json(s.to_owned());
    let cases: Vec<(&str, SqlValue, Value)> = vec![
        // strings parsed as the placeholder's type
        (
            "timestamptz",
            text("2024-01-02 03:04:05.123456+00"),
            json!("2024-01-02T03:04:05.123456Z"),
        ),
        (
            "timestamptz",
            text("2024-01-02T05:04:05+02:00"),
            json!("2024-01-02T03:04:05Z"),
        ),
        (
            "timestamp",
            text("2024-01-02T03:04:05.5"),
            json!("2024-01-02T03:04:05.5"),
        ),
        (
            "numeric",
            text("12345678901234567890.000001"),
            json!("12345678901234567890.000001"),
        ),
        ("numeric(10,2)", text("1.5"), json!("1.50")),
        (
            "uuid",
            text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ),
        ("date", text("2024-02-29"), json!("2024-02-29")),
        ("date", text("infinity"), json!("infinity")),
        ("time", text("04:05:06.5"), json!("04:05:06.5")),
        (
            "interval",
            text("P1Y2M3DT4H5M6.5S"),
            json!("1 year 2 mons 3 days 04:05:06.5"),
        ),
        ("inet", text("::ffff:1.2.3.4"), json!("::ffff:1.2.3.4")),
        ("cidr", text("10.0.0.0/8"), json!("10.0.0.0/8")),
        ("json", text("{\"a\": [1, 2]}"), json!({"a": [1, 2]})),
        ("jsonb", text("\"str\""), json!("str")),
        (
            "int[]",
            text("{{1,2},{3,NULL}}"),
            json!([[1, 2], [3, null]]),
        ),
        (
            "text[]",
            text("{a,\"b c\",NULL}"),
            json!(["a", "b c", null]),
        ),
        ("mood", text("sad"), json!("sad")),
        ("citext", text("AbC"), json!("AbC")),
        ("\"char\"", text("z"), json!("z")),
        ("bool", text("yes"), json!(true)),
        ("bytea", text("\\x0102"), json!("AQI=")),
        (
            "text",
            text("héllo 'x' \\ \"y\""),
            json!("héllo 'x' \\ \"y\""),
        ),
        ("varchar", text(""), json!("")),
        // integers, exact at the extremes
        ("int2", SqlValue::Integer(-32768), json!(-32768)),
        (
            "int4",
            SqlValue::Integer(2_147_483_647),
            json!(2_147_483_647),
        ),
        ("int8", SqlValue::Integer(i64::MIN), json!(i64::MIN)),
        ("int8", SqlValue::Integer(i64::MAX), json!(i64::MAX)),
        (
            "oid",
            SqlValue::Integer(4_294_967_295),
            json!(4_294_967_295_u32),
        ),
        (
            "numeric",
            SqlValue::Integer(i64::MIN),
            json!("-9223372036854775808"),
        ),
        (
            "float8",
            SqlValue::Integer(i64::MAX),
            json!(9.223_372_036_854_776e18),
        ),
        ("date", SqlValue::Integer(20_240_102), json!("2024-01-02")),
        ("jsonb", SqlValue::Integer(5), json!(5)),
        ("text", SqlValue::Integer(-5), json!("-5")),
        ("bool", SqlValue::Integer(1), json!(true)),
        // reals in their shortest round-trip form
        ("float8", SqlValue::Real(0.1), json!(0.1)),
        ("float8", SqlValue::Real(5e-324), json!(5e-324)),
        ("float8", SqlValue::Real(f64::MAX), json!(f64::MAX)),
        ("float8", SqlValue::Real(-1e-300), json!(-1e-300)),
        ("float4", SqlValue::Real(0.1), json!(0.1)),
        ("numeric", SqlValue::Real(0.1), json!("0.1")),
        ("numeric", SqlValue::Real(-1e-7), json!("-0.0000001")),
        (
            "numeric",
            SqlValue::Real(1e300),
            json!(format!("1{}", "0".repeat(300))),
        ),
        ("numeric", SqlValue::Real(f64::NAN), json!("NaN")),
        ("numeric", SqlValue::Real(f64::INFINITY), json!("Infinity")),
        (
            "numeric",
            SqlValue::Real(f64::NEG_INFINITY),
            json!("-Infinity"),
        ),
        ("numeric(10,2)", SqlValue::Real(1.5), json!("1.50")),
        (
            "int8",
            SqlValue::Real(-9.223_372_036_854_775e18),
            json!(-9_223_372_036_854_775_000_i64),
        ),
        ("int4", SqlValue::Real(3.0), json!(3)),
        ("jsonb", SqlValue::Real(2.5), json!(2.5)),
        ("text", SqlValue::Real(2.5), json!("2.5")),
        // booleans: 1/0 for numeric placeholders, true/false elsewhere
        ("bool", SqlValue::Bool(true), json!(true)),
        ("bool", SqlValue::Bool(false), json!(false)),
        ("int4", SqlValue::Bool(true), json!(1)),
        ("int2", SqlValue::Bool(false), json!(0)),
        ("int8", SqlValue::Bool(true), json!(1)),
        ("numeric", SqlValue::Bool(true), json!("1")),
        ("float8", SqlValue::Bool(false), json!(0.0)),
        ("text", SqlValue::Bool(true), json!("true")),
        ("jsonb", SqlValue::Bool(false), json!(false)),
        // JSON values as their text
        ("json", jsonv("{\"a\":[1,2]}"), json!({"a": [1, 2]})),
        ("jsonb", jsonv("[1,{\"b\":null}]"), json!([1, {"b": null}])),
        ("text", jsonv("{\"a\":1}"), json!("{\"a\":1}")),
        // bytes, in binary
        (
            "bytea",
            SqlValue::Blob(vec![0, 1, 2, 255]),
            json!("AAEC/w=="),
        ),
        ("bytea", SqlValue::Blob(Vec::new()), json!("")),
        ("blob", SqlValue::Blob(vec![1]), json!("AQ==")),
        // domains: the base type decides
        ("posint", SqlValue::Integer(3), json!(3)),
        ("posint", SqlValue::Bool(true), json!(1)),
        ("price", SqlValue::Real(2.5), json!("2.50")),
        ("price", SqlValue::Bool(true), json!("1.00")),
        // NULL for any type
        ("text", SqlValue::Null, Value::Null),
        ("timestamptz", SqlValue::Null, Value::Null),
        ("bytea", SqlValue::Null, Value::Null),
        ("int[]", SqlValue::Null, Value::Null),
        ("mood", SqlValue::Null, Value::Null),
    ];
    for (ty, value, expected) in cases {
        let sql = format!("SELECT $1::{ty} AS v");
        let got = run(&client, &sql, std::slice::from_ref(&value)).await;
        assert_eq!(got, expected, "{sql} with {value:?}");
    }

    // Non-finite reals arrive as PostgreSQL's own non-finite values.
    for (value, literal) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ] {
        for ty in ["float8", "float4"] {
            let sql = format!("SELECT $1::{ty} = '{literal}'::{ty} AS v");
            assert_eq!(
                run(&client, &sql, &[SqlValue::Real(value)]).await,
                json!(true)
            );
        }
    }

    // A placeholder cast to a domain has the domain's type, unwrapped for the decision.
    let statement = client.prepare("SELECT $1::posint").await.unwrap();
    assert!(
        matches!(statement.params()[0].kind(), Kind::Domain(base) if *base == Type::INT4),
        "{:?}",
        statement.params()[0]
    );

    // Types PostgreSQL infers from a table's columns, no casts: in with INSERT, out with
    // RETURNING and SELECT.
    client
        .batch_execute(
            "CREATE TABLE everything (
                id serial PRIMARY KEY, b bool, i2 int2, i4 int4, i8 int8, f4 float4,
                f8 float8, n numeric, n2 numeric(10,2), tx text, vc varchar(10), ch char(3),
                by bytea, js json, jb jsonb, u uuid, d date, tm time, ts timestamp,
                tz timestamptz, iv interval, ip inet, cn cidr, m mood, p posint, pr price,
                ci citext, arr int[], tarr text[], tzarr timestamptz[])",
        )
        .await
        .unwrap();
    let columns: Vec<(&str, SqlValue, Value)> = vec![
        ("b", SqlValue::Bool(true), json!(true)),
        ("i2", SqlValue::Integer(-32768), json!(-32768)),
        ("i4", SqlValue::Bool(true), json!(1)),
        ("i8", SqlValue::Integer(i64::MIN), json!(i64::MIN)),
        ("f4", SqlValue::Real(0.1), json!(0.1)),
        ("f8", SqlValue::Real(1e300), json!(1e300)),
        (
            "n",
            text("12345678901234567890.000001"),
            json!("12345678901234567890.000001"),
        ),
        ("n2", SqlValue::Integer(2), json!("2.00")),
        ("tx", text("héllo"), json!("héllo")),
        ("vc", text("abc"), json!("abc")),
        ("ch", text("x"), json!("x  ")),
        ("by", SqlValue::Blob(vec![0, 255, 10]), json!("AP8K")),
        ("js", jsonv("{\"a\":[1,2]}"), json!({"a": [1, 2]})),
        ("jb", jsonv("[1,{\"b\":null}]"), json!([1, {"b": null}])),
        (
            "u",
            text("A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"),
            json!("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
        ),
        ("d", text("2024-01-02"), json!("2024-01-02")),
        ("tm", text("04:05:06.5"), json!("04:05:06.5")),
        (
            "ts",
            text("2024-01-02 03:04:05.123456"),
            json!("2024-01-02T03:04:05.123456"),
        ),
        (
            "tz",
            text("2024-01-02T03:04:05.123456+02:00"),
            json!("2024-01-02T01:04:05.123456Z"),
        ),
        ("iv", text("1 year 2 mons"), json!("1 year 2 mons")),
        ("ip", text("192.168.0.1/24"), json!("192.168.0.1/24")),
        ("cn", text("10.0.0.0/8"), json!("10.0.0.0/8")),
        ("m", text("happy"), json!("happy")),
        ("p", SqlValue::Integer(7), json!(7)),
        ("pr", text("3.5"), json!("3.50")),
        ("ci", text("MiXeD"), json!("MiXeD")),
        ("arr", text("{1,NULL,3}"), json!([1, null, 3])),
        ("tarr", text("{a,\"b c\"}"), json!(["a", "b c"])),
        (
            "tzarr",
            text("{\"2024-01-02 03:04:05+00\",infinity}"),
            json!(["2024-01-02T03:04:05Z", "infinity"]),
        ),
    ];
    let names: Vec<&str> = columns.iter().map(|(name, _, _)| *name).collect();
    let placeholders: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let params: Vec<SqlValue> = columns.iter().map(|(_, v, _)| v.clone()).collect();
    let insert = format!(
        "INSERT INTO everything ({}) VALUES ({}) RETURNING {}",
        names.join(", "),
        placeholders.join(", "),
        names.join(", ")
    );
    let statement = client.prepare(&insert).await.unwrap();
    assert_eq!(statement.params()[0], Type::BOOL);
    assert!(matches!(statement.params()[23].kind(), Kind::Domain(_)));
    check_params(statement.params(), &params).unwrap();
    check_columns(statement.columns()).unwrap();
    let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as _).collect();
    let returned = client.query_one(&statement, &refs).await.unwrap();
    let selected = client
        .query_one(&format!("SELECT {} FROM everything", names.join(", ")), &[])
        .await
        .unwrap();
    for (i, (name, value, expected)) in columns.iter().enumerate() {
        for row in [&returned, &selected] {
            assert_eq!(
                &column_to_json(row, i).unwrap(),
                expected,
                "column {name} from {value:?}"
            );
        }
    }
}

/// Runs `sql` with `params` as given, unchecked: what PostgreSQL itself does with them.
async fn run_unchecked(
    client: &Client,
    sql: &str,
    params: &[SqlValue],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let bound: Vec<Param<'_>> = params.iter().map(Param).collect();
    let refs: Vec<&(dyn ToSql + Sync)> = bound.iter().map(|p| p as _).collect();
    client.query(sql, &refs).await
}

fn param_type_error(result: Result<(), ExecError>) -> (usize, String) {
    match result {
        Err(ExecError::ParamType { index, reason }) => (index, reason),
        other => panic!("expected a ParamType error, got {other:?}"),
    }
}

fn execution_message(result: Result<impl std::fmt::Debug, ExecError>) -> String {
    match result {
        Err(ExecError::Execution {
            message,
            constraint: None,
            transient: false,
            batch_index: None,
        }) => message,
        other => panic!("expected an Execution error, got {other:?}"),
    }
}

#[tokio::test]
async fn impossible_values_and_columns_are_refused_with_their_index_or_name() {
    let db = TestDatabase::create();
    let client = connect(&db).await;
    client
        .batch_execute(
            "CREATE TABLE r (k int4, i2 int2, i4 int4, i8 int8, b bool, by bytea, u uuid,
                tz timestamptz, arr int[], tx text, p posint, bl blob)",
        )
        .await
        .unwrap();

    // check_params: the reason names the parameter and its type. `rejected` tells whether
    // PostgreSQL itself fails on the value too (at Bind, so param_error_index finds it, or
    // in the client for bytes); bytea takes any text, so a number there would store its
    // digits' ASCII: refused on purpose.
    let refusals: Vec<(&str, SqlValue, &str, bool)> = vec![
        (
            "i4",
            SqlValue::Blob(vec![1]),
            "bytes can only be bound to a bytea parameter, and $2 is integer; where \
             PostgreSQL cannot tell the type, write $2::bytea",
            true,
        ),
        (
            "tx",
            SqlValue::Blob(vec![1]),
            "bytes can only be bound to a bytea parameter, and $2 is text; where \
             PostgreSQL cannot tell the type, write $2::bytea",
            true,
        ),
        (
            "p",
            SqlValue::Blob(vec![1]),
            "bytes can only be bound to a bytea parameter, and $2 is posint; where \
             PostgreSQL cannot tell the type, write $2::bytea",
            true,
        ),
        (
            "by",
            SqlValue::Integer(5),
            "a number cannot be bound to $2, which is bytea; send bytes as \
             {\"$blob\": \"<base64>\"}",
            false,
        ),
        (
            "by",
            SqlValue::Real(1.5),
            "a number cannot be bound to $2, which is bytea; send bytes as \
             {\"$blob\": \"<base64>\"}",
            false,
        ),
        (
            "by",
            SqlValue::Bool(true),
            "a boolean cannot be bound to $2, which is bytea; send bytes as \
             {\"$blob\": \"<base64>\"}",
            false,
        ),
        (
            "bl",
            SqlValue::Integer(1),
            "a number cannot be bound to $2, which is bytea; send bytes as \
             {\"$blob\": \"<base64>\"}",
            false,
        ),
        (
            "i4",
            SqlValue::Integer(99_999_999_999),
            "99999999999 is out of range for $2, which is integer",
            true,
        ),
        (
            "i2",
            SqlValue::Integer(40_000),
            "40000 is out of range for $2, which is smallint",
            true,
        ),
        (
            "i4",
            SqlValue::Real(1.5),
            "1.5 is not a whole number in the range of $2, which is integer",
            true,
        ),
        (
            "i8",
            SqlValue::Real(-9.223_372_036_854_776e18),
            "-9223372036854776000 is not a whole number in the range of $2, which is bigint",
            true,
        ),
        (
            "i8",
            SqlValue::Real(f64::NAN),
            "NaN is not a whole number in the range of $2, which is bigint",
            true,
        ),
        (
            "p",
            SqlValue::Real(2.5),
            "2.5 is not a whole number in the range of $2, which is posint",
            true,
        ),
        (
            "b",
            SqlValue::Integer(2),
            "2 cannot be bound to $2, which is boolean; send true or false",
            true,
        ),
        (
            "b",
            SqlValue::Real(0.5),
            "0.5 cannot be bound to $2, which is boolean; send true or false",
            true,
        ),
        (
            "u",
            SqlValue::Integer(7),
            "a number cannot be bound to $2, which is uuid; send the uuid as a string",
            true,
        ),
        (
            "u",
            SqlValue::Bool(true),
            "a boolean cannot be bound to $2, which is uuid",
            true,
        ),
        (
            "tz",
            SqlValue::Bool(false),
            "a boolean cannot be bound to $2, which is timestamp with time zone",
            true,
        ),
        (
            "arr",
            SqlValue::Integer(1),
            "a number cannot be bound to $2, which is integer[]; send an array as a string \
             in PostgreSQL's array syntax, for example \"{1,2,3}\"",
            true,
        ),
        (
            "tx",
            SqlValue::Text("a\0b".to_owned()),
            "text containing the NUL character (\\u0000) cannot be sent to PostgreSQL",
            true,
        ),
    ];
    for (column, value, reason, rejected) in refusals {
        let sql = format!("INSERT INTO r (k, {column}) VALUES ($1, $2)");
        let statement = client.prepare(&sql).await.unwrap();
        let params = [SqlValue::Integer(1), value];
        let (index, got) = param_type_error(check_params(statement.params(), &params));
        assert_eq!((index, got.as_str()), (2, reason), "{sql} with {params:?}");
        let err = run_unchecked(&client, &sql, &params).await;
        if !rejected {
            err.unwrap_or_else(|e| panic!("{sql} with {params:?}: {e}"));
            continue;
        }
        let err = err.expect_err(&sql);
        match err.as_db_error() {
            Some(db) => assert_eq!(param_error_index(db), Some(2), "{sql}: {db:?}"),
            // Bytes for another type fail while encoding, before anything is sent.
            None => assert!(matches!(params[1], SqlValue::Blob(_)), "{sql}: {err:?}"),
        }
    }

    // Values PostgreSQL takes are not refused, even at the edges.
    let statement = client
        .prepare("INSERT INTO r (i8, b, i4, by, tx, u) VALUES ($1, $2, $3, $4, $5, $6)")
        .await
        .unwrap();
    for params in [
        [
            SqlValue::Integer(i64::MIN),
            SqlValue::Integer(1),
            SqlValue::Real(-2_147_483_648.0),
            SqlValue::Blob(vec![]),
            SqlValue::Json("[1]".to_owned()),
            SqlValue::Null,
        ],
        [
            SqlValue::Real(-9.223_372_036_854_775e18),
            SqlValue::Integer(0),
            SqlValue::Bool(true),
            SqlValue::Text("\\x01".to_owned()),
            SqlValue::Integer(3),
            SqlValue::Text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".to_owned()),
        ],
    ] {
        check_params(statement.params(), &params).unwrap();
        run_unchecked(&client, statement_sql(), &params)
            .await
            .unwrap_or_else(|e| panic!("{params:?}: {e}"));
    }

    // A count that does not match the placeholders: the first missing or extra index.
    let two = client
        .prepare("SELECT $1::int4 AS a, $2::text AS b")
        .await
        .unwrap();
    let (index, reason) = param_type_error(check_params(two.params(), &[SqlValue::Integer(1)]));
    assert_eq!(
        (index, reason.as_str()),
        (
            2,
            "the statement has 2 placeholder(s) but 1 value(s) were sent"
        )
    );
    let three = [SqlValue::Null, SqlValue::Null, SqlValue::Null];
    let (index, reason) = param_type_error(check_params(two.params(), &three));
    assert_eq!(
        (index, reason.as_str()),
        (
            3,
            "the statement has 2 placeholder(s) but 3 value(s) were sent"
        )
    );
    assert!(
        run_unchecked(&client, "SELECT $1::int4, $2::text", &three)
            .await
            .is_err()
    );

    // param_error_index on PostgreSQL's real Bind errors: the context names the parameter.
    let bind_errors: Vec<(&str, Vec<SqlValue>, usize)> = vec![
        (
            "SELECT $1::int4 AS a, $2::timestamptz AS b",
            vec![SqlValue::Integer(1), SqlValue::Text("abc".to_owned())],
            2,
        ),
        (
            "INSERT INTO r (i4) VALUES ($1)",
            vec![SqlValue::Real(1.5)],
            1,
        ),
        (
            "INSERT INTO r (i4) VALUES ($1)",
            vec![SqlValue::Integer(99_999_999_999)],
            1,
        ),
        (
            "SELECT $3::uuid, $2::date, $1::text",
            vec![
                SqlValue::Null,
                SqlValue::Text("2024-13-01".to_owned()),
                SqlValue::Null,
            ],
            2,
        ),
        // A domain's CHECK runs in its input function, hence at Bind.
        (
            "INSERT INTO r (p) VALUES ($1)",
            vec![SqlValue::Integer(-1)],
            1,
        ),
    ];
    for (sql, params, expected) in bind_errors {
        let err = run_unchecked(&client, sql, &params).await.expect_err(sql);
        let db = err.as_db_error().expect(sql);
        // PostgreSQL 15 by default: "unnamed portal parameter $2 = '...'" (the value
        // itself only with log_parameter_max_length_on_error).
        assert!(
            db.where_()
                .is_some_and(|w| w.starts_with(&format!("unnamed portal parameter ${expected} "))),
            "{sql}: {db:?}"
        );
        assert_eq!(param_error_index(db), Some(expected), "{sql}: {db:?}");
    }

    // A named portal (`Transaction::bind`) says so in the context.
    let mut conn = client;
    let transaction = conn.transaction().await.unwrap();
    let statement = transaction.prepare("SELECT $1::date").await.unwrap();
    let bad = SqlValue::Text("yesterday-ish".to_owned());
    let Err(err) = transaction.bind(&statement, &[&Param(&bad)]).await else {
        panic!("a bad date was bound");
    };
    let db = err.as_db_error().unwrap();
    assert!(
        db.where_()
            .is_some_and(|w| w.starts_with("portal \"") && w.contains("\" parameter $1")),
        "{db:?}"
    );
    assert_eq!(param_error_index(db), Some(1));
    drop(transaction);
    let client = conn;

    // Errors raised while the statement runs, even caused by a parameter, are not Bind
    // errors.
    for (sql, params) in [
        ("SELECT 1 / $1::int4", vec![SqlValue::Integer(0)]),
        (
            "SELECT $1::text::int4",
            vec![SqlValue::Text("abc".to_owned())],
        ),
        (
            "INSERT INTO r (i2) VALUES ($1::int4)",
            vec![SqlValue::Integer(40_000)],
        ),
    ] {
        let err = run_unchecked(&client, sql, &params).await.expect_err(sql);
        let db = err.as_db_error().expect(sql);
        assert_eq!(param_error_index(db), None, "{sql}: {db:?}");
    }

    // check_columns: a type with no JSON form, refused before the statement runs, with
    // the column, the type and the cast that fixes it.
    let columns = [
        (
            "SELECT 1 AS id, point(1, 2) AS location",
            "column 'location' has type point, which cannot be returned as JSON; cast it \
             in the query, for example location::text",
        ),
        (
            "SELECT '12.34'::money AS price",
            "column 'price' has type money, which cannot be returned as JSON; cast it in \
             the query, for example price::text",
        ),
        (
            "SELECT ARRAY[point(1, 2)] AS pts",
            "column 'pts' has type point[], which cannot be returned as JSON; cast it in \
             the query, for example pts::text",
        ),
        (
            "SELECT (1, 'a') AS pair",
            "column 'pair' has type record, which cannot be returned as JSON; cast it in \
             the query, for example pair::text",
        ),
        (
            "SELECT '04:05+02'::timetz AS \"At\"",
            "column 'At' has type time with time zone, which cannot be returned as JSON; \
             cast it in the query, for example (expression)::text",
        ),
        (
            "SELECT int4range(1, 5) AS span",
            "column 'span' has type int4range, which cannot be returned as JSON; cast it \
             in the query, for example span::text",
        ),
    ];
    for (sql, message) in columns {
        let statement = client.prepare(sql).await.unwrap();
        assert_eq!(
            execution_message(check_columns(statement.columns())),
            message
        );
        // column_to_json refuses the same way when asked anyway.
        let row = client.query_one(&statement, &[]).await.unwrap();
        let last = row.len() - 1;
        assert_eq!(execution_message(column_to_json(&row, last)), message);
    }
    // A json number beyond f64 has no JSON value here: refused when read, not mangled.
    let row = client
        .query_one("SELECT '[1e400]'::json AS j", &[])
        .await
        .unwrap();
    let message = execution_message(column_to_json(&row, 0));
    assert!(
        message
            .starts_with("column 'j' of type json cannot be returned as JSON (number out of range"),
        "{message}"
    );

    // The suggested fix works.
    let fixed = run(
        &client,
        "SELECT location::text AS location FROM (SELECT point(1, 2) AS location) AS t",
        &[],
    )
    .await;
    assert_eq!(fixed, json!("(1,2)"));
}

fn statement_sql() -> &'static str {
    "INSERT INTO r (i8, b, i4, by, tx, u) VALUES ($1, $2, $3, $4, $5, $6)"
}
