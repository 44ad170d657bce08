import { describe, expect, it } from 'vitest';
import { inMunich, storedProfile, writeOf } from './profile-records.fixture-spec.js';
import { leftCity, movedInPopular } from './profile-caches.js';

describe('which profile updates drop the popular list and the city counts', () => {
  it('only a change of visibility can move a profile in popular, which ranks by views', () => {
    expect(movedInPopular(writeOf({ visibility: 'hidden' }))).toBe(true);
    expect(movedInPopular(writeOf({ gender: 'man', location: inMunich, birthDate: new Date(0) }))).toBe(false);
  });

  it('drops the city counts when the member leaves a city or changes how its name is spelled', () => {
    const berlin = storedProfile.location;
    expect(leftCity(writeOf({ visibility: 'hidden' }))).toBe(true);
    expect(leftCity(writeOf({ location: { ...berlin, city: 'Hamburg', cityKey: 'hamburg' } }))).toBe(true);
    expect(leftCity(writeOf({ location: { ...berlin, country: 'US' } }))).toBe(true);
    expect(leftCity(writeOf({ location: { ...berlin, city: 'BERLIN' } }))).toBe(true);
    expect(leftCity(writeOf({ location: { ...berlin, lat: 52.55, cellRow: 5255 }, gender: 'man' }))).toBe(false);
  });
});
