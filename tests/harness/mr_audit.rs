//! A whole MR audit on a fresh database with fake GitLab, Linear, Confluence and Slack (being written).
