/**
 * City-wide weather as a pure function of (seed, time): every device of a fleet sees the
 * same front pass, without sharing state, and any instant can be evaluated on its own.
 *
 * Climate numbers are Copenhagen's (DMI normals): monthly mean temperature from ~1 °C in
 * January–February to ~17.5 °C in July, a diurnal range of 4–9 °C, humid (70–90 %RH),
 * pressure around 1013 hPa with synoptic swings of ±15 hPa, rain on about one hour in five,
 * and day length from 7 h (December) to 17.5 h (June). Slow variation comes from smooth
 * value noise on time scales of hours to days.
 */
import { clamp, valueNoise } from './random.ts';
import { copenhagenTime, type LocalTime } from './local-time.ts';
import { seasonOf } from './street.ts';

export interface Weather {
  /** °C, 2 m above a Copenhagen street */
  temperature: number;
  /** %RH */
  humidity: number;
  /** hPa, at sea level */
  pressure: number;
  /** m/s */
  windSpeed: number;
  /** 0 = dry … 1 = heavy rain */
  rain: number;
  /** 0 = night … 1 = clear-sky noon in summer */
  sunlight: number;
  /** 0 late January … 1 late July */
  season: number;
  /** a slow (days) regional air-mass index in [-1, 1]: long-range particle episodes */
  airMass: number;
}

const HOUR_MS = 3_600_000;

export function weatherAt(seed: number, utcMs: number, local: LocalTime = copenhagenTime(utcMs)): Weather {
  const hours = utcMs / HOUR_MS;
  const season = seasonOf(local);
  const pressureAnomaly = 0.75 * valueNoise(seed, 'pressure', hours / 60) + 0.25 * valueNoise(seed, 'pressure-fast', hours / 14);
  const synoptic = 0.7 * valueNoise(seed, 'temperature', hours / 40) + 0.3 * valueNoise(seed, 'temperature-fast', hours / 9);

  // Day length peaks at the June solstice (day ~172), a month before the warmest time.
  const light = 0.5 - 0.5 * Math.cos((2 * Math.PI * (local.dayOfYear + 10)) / 365.25);
  const dayLength = 7 + 10.5 * light;
  const solarNoon = 12.2 + local.offsetMs / HOUR_MS - 1;
  const sunrise = solarNoon - dayLength / 2;
  const elevation = local.hour > sunrise && local.hour < sunrise + dayLength ? Math.sin((Math.PI * (local.hour - sunrise)) / dayLength) : 0;

  const rainNoise = valueNoise(seed, 'rain', hours / 5) - 0.35 * pressureAnomaly;
  const rain = clamp((rainNoise - 0.4) * 2.2, 0, 1);
  const cloud = clamp(0.55 + 0.45 * valueNoise(seed, 'cloud', hours / 8) - 0.3 * pressureAnomaly + rain, 0, 1);
  const sunlight = elevation * (0.35 + 0.65 * light) * (1 - 0.7 * cloud);

  const diurnalAmplitude = (2 + 2.5 * season) * (1 - 0.4 * cloud);
  const diurnal = -Math.cos((2 * Math.PI * (local.hour - 4.5)) / 24);
  const temperature = 1 + 16.5 * season + diurnalAmplitude * diurnal + 4.5 * synoptic - 1.5 * rain;

  const windSpeed = clamp(5 + 1.2 * (1 - season) + 3.5 * valueNoise(seed, 'wind', hours / 20) + 1.5 * valueNoise(seed, 'wind-gust', hours / 3) - 2.5 * pressureAnomaly, 0.3, 25);
  const humidity = clamp(80 + 8 * (1 - season) - 2.4 * diurnalAmplitude * diurnal + 12 * rain + 6 * valueNoise(seed, 'humidity', hours / 12), 25, 100);
  const pressure = 1013 + 14 * pressureAnomaly;
  const airMass = valueNoise(seed, 'air-mass', hours / 50);

  return { temperature, humidity, pressure, windSpeed, rain, sunlight, season, airMass };
}
