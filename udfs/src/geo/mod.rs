//! Geo functions for map-based segments (地图圈选): great-circle distance in metres and
//! within-radius tests, on WGS-84 latitude/longitude in degrees.

mod distance;

pub use distance::{GeoDistance, GeoWithin, haversine_m};

#[cfg(test)]
mod tests;
