//! Linear GraphQL connector (in progress).
