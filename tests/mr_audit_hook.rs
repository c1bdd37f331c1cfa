//! The GitLab webhook endpoint (being written).
