import type { Types } from 'mongoose';
import { gridCellOf } from '../profiles/geo.js';
import { GENDERS, type Gender, type Profile } from '../profiles/profile.schema.js';
import { cityKeyOf } from '../profiles/list-queries.js';
import { DEMO_CITIES } from './demo-cities.js';

const FIRST_NAMES = [
  'Ann',
  'Ben',
  'Chloe',
  'Dev',
  'Elif',
  'Finn',
  'Greta',
  'Hugo',
  'Ines',
  'Jonas',
  'Kim',
  'Lea',
  'Mateo',
  'Nora',
  'Omar',
  'Pia',
  'Quinn',
  'Rosa',
  'Sami',
  'Tara',
  'Uma',
  'Vik',
  'Wen',
  'Yara',
  'Zoe',
];
const INTERESTS = [
  'climbing',
  'cooking',
  'chess',
  'cinema',
  'cycling',
  'dancing',
  'gaming',
  'hiking',
  'jazz',
  'reading',
  'running',
  'sailing',
  'skiing',
  'surfing',
  'techno',
  'theatre',
  'travel',
  'wine',
  'yoga',
  'photography',
];
const BIOS = [
  'Looking for someone to share long walks and short queues.',
  'Coffee first, then adventures.',
  'Weekend climber, weekday coder.',
  'Ask me about my sourdough.',
  '',
];

/** Small deterministic PRNG (mulberry32), so a seed value reproduces the same data set. */
export function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rand: () => number, items: readonly T[]): T => items[Math.floor(rand() * items.length)];

/**
 * Demo profile number `index`. Cities are chosen with a skew (the first cities are the busiest) and
 * views follow a power law over a random rank, so "popular" has a clear head and a long tail.
 */
export function demoProfile(
  index: number,
  userId: Types.ObjectId,
  rand: () => number,
): Omit<Profile, 'createdAt' | 'updatedAt'> {
  const place = DEMO_CITIES[Math.floor(DEMO_CITIES.length * rand() ** 2)];
  // Within about 15 km of the centre.
  const lat = place.lat + (rand() - 0.5) * 0.27;
  const lng = place.lng + ((rand() - 0.5) * 0.27) / Math.max(0.2, Math.cos((place.lat * Math.PI) / 180));
  const cell = gridCellOf({ lat, lng });
  const gender: Gender = pick(rand, GENDERS);
  const birthDate = new Date(
    Date.UTC(2026 - 18 - Math.floor(rand() * 50), Math.floor(rand() * 12), 1 + Math.floor(rand() * 28)),
  );
  const interests = [...new Set(Array.from({ length: 1 + Math.floor(rand() * 5) }, () => pick(rand, INTERESTS)))];
  const rank = 1 + Math.floor(rand() * 10_000);
  return {
    userId,
    displayName: `${pick(rand, FIRST_NAMES)} ${index}`,
    bio: pick(rand, BIOS),
    birthDate,
    gender,
    interestedIn: rand() < 0.15 ? [...GENDERS] : [pick(rand, GENDERS)],
    interests,
    location: {
      city: place.city,
      cityKey: cityKeyOf(place.city),
      country: place.country,
      lat,
      lng,
      cellRow: cell.row,
      cellCol: cell.col,
    },
    photoIds: [],
    visibility: rand() < 0.03 ? 'hidden' : 'public',
    views: Math.floor(50_000 / rank ** 1.1),
    lastActiveAt: new Date(Date.now() - Math.floor(rand() * 30 * 24 * 3600 * 1000)),
  };
}

export const demoEmail = (index: number): string => `demo-${index}@vesta.example`;
