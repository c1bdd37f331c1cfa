//! The MR audit end to end (being written).
