/**
 * OpenWeather current weather (https://openweathermap.org/current), normalized into the
 * "enhanced" shape of docs: location, coordinates, current readings, weather, wind, sun times.
 */
import { z } from "zod";
import { defineParams } from "../catalog/params.js";
import { expectShape, isoFromUnix, labelled } from "./shape.js";
import type { BuiltinRouteDefinition, BuiltinUpstreamDefinition } from "./types.js";

export const openWeatherUpstream: BuiltinUpstreamDefinition = {
  name: "openweather",
  baseUrl: "https://api.openweathermap.org",
  auth: { env: "OPENWEATHER_API_KEY", in: "query", name: "appid", required: true },
};

const answer = z.looseObject({
  coord: z.looseObject({ lon: z.number(), lat: z.number() }),
  weather: z.array(z.looseObject({ main: z.string(), description: z.string(), icon: z.string() })).min(1),
  main: z.looseObject({
    temp: z.number(),
    feels_like: z.number(),
    temp_min: z.number(),
    temp_max: z.number(),
    pressure: z.number(),
    humidity: z.number(),
    sea_level: z.number().optional(),
    grnd_level: z.number().optional(),
  }),
  visibility: z.number().optional(),
  wind: z.looseObject({ speed: z.number(), deg: z.number(), gust: z.number().optional() }).optional(),
  clouds: z.looseObject({ all: z.number() }).optional(),
  dt: z.number(),
  sys: z.looseObject({ country: z.string().optional(), sunrise: z.number().optional(), sunset: z.number().optional() }),
  timezone: z.number(),
  name: z.string(),
});

/** "+05:30" from an offset in seconds: OpenWeather gives the offset, not an IANA zone name. */
function utcOffset(seconds: number): string {
  const sign = seconds < 0 ? "-" : "+";
  const abs = Math.abs(seconds);
  const hours = String(Math.floor(abs / 3600)).padStart(2, "0");
  const minutes = String(Math.floor((abs % 3600) / 60)).padStart(2, "0");
  return `UTC${sign}${hours}:${minutes}`;
}

export const weatherRoute: BuiltinRouteDefinition = {
  id: "weather",
  method: "GET",
  path: "/api/weather",
  upstream: "openweather",
  source: "OpenWeather",
  description: "Current weather for a city (OpenWeather), normalized: location, readings, wind, sunrise and sunset.",
  params: defineParams({
    city: { type: "string", required: true, minLength: 1, maxLength: 100, pattern: "^[\\p{L}\\p{M} .,'-]+$", description: "City name, optionally with a country code: \"London\" or \"London,GB\"" },
    units: { type: "string", enum: ["metric", "imperial", "standard"], default: "metric", description: "metric (°C, m/s), imperial (°F, mph) or standard (K, m/s)" },
  }),
  priceUsd: "0.001",
  cacheTtlMs: 10 * 60_000,
  async call(input, { http, signal }) {
    const { data, demo } = await http.request({ path: "/data/2.5/weather", query: { q: input["city"] as string, units: input["units"] as string }, signal });
    const w = expectShape("openweather", answer, data);
    const weather = w.weather[0]!;
    return labelled(
      {
        location: w.name,
        country: w.sys.country ?? null,
        timezone: utcOffset(w.timezone),
        timezoneOffsetSeconds: w.timezone,
        coordinates: { lat: w.coord.lat, lon: w.coord.lon },
        units: input["units"],
        current: {
          temp: w.main.temp,
          feels_like: w.main.feels_like,
          temp_min: w.main.temp_min,
          temp_max: w.main.temp_max,
          pressure: w.main.pressure,
          humidity: w.main.humidity,
          sea_level: w.main.sea_level ?? null,
          grnd_level: w.main.grnd_level ?? null,
        },
        weather: { main: weather.main, description: weather.description, icon: weather.icon },
        wind: { speed: w.wind?.speed ?? null, deg: w.wind?.deg ?? null, gust: w.wind?.gust ?? null },
        clouds: w.clouds?.all ?? null,
        sun: { sunrise: isoFromUnix(w.sys.sunrise), sunset: isoFromUnix(w.sys.sunset) },
        visibility: w.visibility ?? null,
        dt: w.dt,
        observedAt: isoFromUnix(w.dt),
      },
      demo,
    );
  },
};
