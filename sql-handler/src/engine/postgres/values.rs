//! Moving values across the PostgreSQL boundary (PROTOCOL.md section 4).
