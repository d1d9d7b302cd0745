//! cradled
