//! Several statements in one database transaction, all applied or none: the statement
//! kinds stay types, so each statement is checked as `sql!` checks any query, and each
//! comes back as its own [`SqlResult`].

use crate::query::{AnyQuery, Kind, Query};
use crate::result::SqlResult;

mod sealed {
    pub trait Sealed {}
}

/// What [`SqlClient::transaction`](crate::SqlClient::transaction) runs: a tuple of up to
/// eight queries of any kinds (each a [`Query`] with its arguments, as `sql!` builds it),
/// or a `Vec<AnyQuery>` for statements only known at run time.
///
/// Its [`Output`](Statements::Output) has the same shape: a tuple of one [`SqlResult`] per
/// query, or a `Vec`.
///
/// # Examples
///
/// ```
/// use sql_client::{SqlClient, SqlError, SqlResult, sql};
///
/// async fn transfer(client: &SqlClient, from: i64, to: i64, amount: i64) -> Result<(), SqlError> {
///     let (debit, credit, _ledger): (SqlResult, SqlResult, SqlResult) = client
///         .transaction((
///             sql!(plugin = "analytics-db", "UPDATE analytics_db__events SET n = n - $1 WHERE id = $2", amount, from),
///             sql!(plugin = "analytics-db", "UPDATE analytics_db__events SET n = n + $1 WHERE id = $2", amount, to),
///             sql!(plugin = "analytics-db", "INSERT INTO analytics_db__events (user_id, name, n) VALUES ('ledger', 'transfer', $1)", amount),
///         ))
///         .await?;
///     assert_eq!((debit.row_count(), credit.row_count()), (1, 1));
///     Ok(())
/// }
/// # let _ = transfer;
/// ```
pub trait Statements: sealed::Sealed + Send {
    /// One result per statement, in the shape of the statements.
    type Output: Send;

    #[doc(hidden)]
    fn into_queries(self) -> Vec<AnyQuery>;

    /// `None` when the number of results is not the number of statements.
    #[doc(hidden)]
    fn outputs(results: Vec<SqlResult>) -> Option<Self::Output>;
}

impl sealed::Sealed for Vec<AnyQuery> {}

impl Statements for Vec<AnyQuery> {
    type Output = Vec<SqlResult>;

    fn into_queries(self) -> Vec<AnyQuery> {
        self
    }

    fn outputs(results: Vec<SqlResult>) -> Option<Self::Output> {
        Some(results)
    }
}

/// The result type of a tuple element: one [`SqlResult`] whatever the query.
#[doc(hidden)]
pub type ResultOf<Q> = <Q as OneStatement>::Result;

/// A tuple element: a query with its arguments, of any kind.
#[doc(hidden)]
pub trait OneStatement: Send {
    type Result: Send;
    fn into_any(self) -> AnyQuery;
    fn result(result: SqlResult) -> Self::Result;
}

impl<K: Kind> OneStatement for Query<K> {
    type Result = SqlResult;

    fn into_any(self) -> AnyQuery {
        self.erase()
    }

    fn result(result: SqlResult) -> SqlResult {
        result
    }
}

macro_rules! tuples {
    ($(($($q:ident),+)),+ $(,)?) => {$(
        impl<$($q: OneStatement),+> sealed::Sealed for ($($q,)+) {}

        impl<$($q: OneStatement),+> Statements for ($($q,)+) {
            type Output = ($(ResultOf<$q>,)+);

            #[allow(non_snake_case, reason = "the type names name the elements")]
            fn into_queries(self) -> Vec<AnyQuery> {
                let ($($q,)+) = self;
                vec![$($q.into_any()),+]
            }

            fn outputs(results: Vec<SqlResult>) -> Option<Self::Output> {
                let mut results = results.into_iter();
                let output = ($($q::result(results.next()?),)+);
                results.next().is_none().then_some(output)
            }
        }
    )+};
}

tuples! {
    (A),
    (A, B),
    (A, B, C),
    (A, B, C, D),
    (A, B, C, D, E),
    (A, B, C, D, E, F),
    (A, B, C, D, E, F, G),
    (A, B, C, D, E, F, G, H),
}
