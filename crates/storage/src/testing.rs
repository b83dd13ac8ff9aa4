//! Test support shared by the crates' test suites: an isolated PostgreSQL schema per test.

use sqlx::{AnyConnection, Connection, Executor};

/// A fresh PostgreSQL schema; [`PgSchema::url`] selects it through the connection options.
#[derive(Debug)]
pub struct PgSchema {
    /// Connection URL whose `search_path` is the new schema.
    pub url: String,
    schema: String,
    base: String,
}

impl PgSchema {
    /// Create a schema `t_<uuid>` in the database at `base`.
    pub async fn create(base: &str) -> Result<PgSchema, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let schema = format!("t_{}", crate::new_id().replace('-', ""));
        let mut admin = AnyConnection::connect(base).await?;
        admin
            .execute(format!("CREATE SCHEMA {schema}").as_str())
            .await?;
        let _ = admin.close().await;
        let sep = if base.contains('?') { '&' } else { '?' };
        Ok(PgSchema {
            url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
            schema,
            base: base.to_string(),
        })
    }

    /// Drop the schema and everything in it.
    pub async fn drop_schema(self) -> Result<(), sqlx::Error> {
        let mut admin = AnyConnection::connect(&self.base).await?;
        admin
            .execute(format!("DROP SCHEMA {} CASCADE", self.schema).as_str())
            .await?;
        let _ = admin.close().await;
        Ok(())
    }
}
