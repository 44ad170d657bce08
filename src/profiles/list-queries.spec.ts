import { Types } from 'mongoose';
import { describe, expect, it } from 'vitest';
import { encodeCursor } from './cursor.js';
import { cityKeyOf, nearbyArea, searchFilters, searchScope } from './list-queries.js';

describe('list queries', () => {
  it('gives equivalent searches the same filters, field for field in the same order', () => {
    const spelled = [
      { city: 'Berlin', gender: 'woman' as const, interests: ['chess', 'sailing'] },
      { interests: ['sailing', 'chess', 'chess'], gender: 'woman' as const, city: '  BERLIN ' },
      {
        limit: 20,
        fields: ['displayName' as const],
        gender: 'woman' as const,
        city: 'berlin',
        interests: ['sailing', 'chess'],
      },
    ];
    const [first, ...others] = spelled.map((query) => JSON.stringify(searchFilters(query)));
    expect(first).toBe('{"cityKey":"berlin","gender":"woman","interests":["chess","sailing"],"limit":20}');
    for (const other of others) expect(other).toBe(first);
  });

  it('gives a city the same key however its accents are encoded, precomposed or with combining marks', () => {
    const precomposed = 'S\u00e3o Paulo';
    const decomposed = 'Sa\u0303o Paulo';
    expect(cityKeyOf(decomposed)).toBe(cityKeyOf(precomposed));
    expect(cityKeyOf(' SA\u0303O  PAULO')).toBe('s\u00e3o paulo');
    expect(searchFilters({ city: decomposed })).toEqual(searchFilters({ city: precomposed }));
  });

  it("finds a city stored with ' when the search types ’ or ‘, as iOS does", () => {
    expect(cityKeyOf('L\u2019Aquila')).toBe("l'aquila");
    // A Greek name in capitals: toLowerCase ends it with "ς", typed in lower case it may end with "σ".
    expect(cityKeyOf('\u0392\u039f\u039b\u039f\u03a3')).toBe(cityKeyOf('\u03b2\u03bf\u03bb\u03bf\u03c3'));
    expect(searchFilters({ city: '\u2018s-Hertogenbosch' }).cityKey).toBe(cityKeyOf("'s-Hertogenbosch"));
  });

  it('makes İstanbul from a Turkish keyboard and Istanbul one city', () => {
    expect(cityKeyOf('İstanbul')).toBe('istanbul');
    expect(cityKeyOf('ISTANBUL')).toBe('istanbul');
  });

  it('gives a city the key of its capitals when lower case alone would not: ß and the dotless ı', () => {
    for (const city of ['Gießen', 'GIESSEN', 'Giessen', 'GIEẞEN']) expect(cityKeyOf(city)).toBe('giessen');
    for (const city of ['Aydın', 'AYDIN', 'Aydin']) expect(cityKeyOf(city)).toBe('aydin');
  });

  it('gives a city typed in full-width or half-width forms the key of its ordinary spelling', () => {
    expect(cityKeyOf('Ｍｕｎｉｃｈ\u3000Ｏｓｔ')).toBe('munich ost');
    expect(cityKeyOf('ﾄｳｷｮｳ')).toBe(cityKeyOf('トウキョウ'));
  });

  it('gives a city the same key with and without the zero-width (non-)joiners in it', () => {
    // Khorramabad in Persian, and Sri in Sinhala, written with and without the joiner.
    expect(cityKeyOf('\u062e\u0631\u0645\u200c\u0622\u0628\u0627\u062f')).toBe(
      '\u062e\u0631\u0645\u0622\u0628\u0627\u062f',
    );
    expect(cityKeyOf('\u0dc1\u0dca\u200d\u0dbb\u0dd3')).toBe(cityKeyOf('\u0dc1\u0dca\u0dbb\u0dd3'));
  });

  it('keeps what changes the result apart', () => {
    const base = JSON.stringify(searchFilters({ city: 'Berlin' }));
    expect(JSON.stringify(searchFilters({ city: 'Berlin', limit: 19 }))).not.toBe(base);
    expect(JSON.stringify(searchFilters({ city: 'New Berlin' }))).not.toBe(base);
    expect(JSON.stringify(searchFilters({ city: 'Berlin', interests: [] }))).toBe(base);
    expect(JSON.stringify(searchFilters({ city: '  ', cursor: '' }))).toBe(JSON.stringify(searchFilters({})));
    expect(JSON.stringify(searchFilters({ city: 'Berlin', interestsAll: ['chess'] }))).not.toBe(
      JSON.stringify(searchFilters({ city: 'Berlin', interests: ['chess'] })),
    );
  });

  it('keys a page by its cursor as this API writes it, however the client spelled it', () => {
    const cursor = encodeCursor(new Types.ObjectId('665f1c2e8a1b2c3d4e5f6a7b'), searchScope({}));
    const base = JSON.stringify(searchFilters({ cursor }));
    const fields = { v: 2, id: '665f1c2e8a1b2c3d4e5f6a7b', s: searchScope({}), n: 1 };
    const withField = Buffer.from(JSON.stringify(fields)).toString('base64url');
    for (const spelling of [withField, `${cursor}!`, `${cursor}==`]) {
      expect(JSON.stringify(searchFilters({ cursor: spelling })), spelling).toBe(base);
    }
    expect(() => searchFilters({ cursor: 'not-a-cursor' })).toThrow('cursor is not a cursor this API issued');
  });

  it('takes a cursor only with the filters it was issued for, whatever the page size or day', () => {
    const id = new Types.ObjectId('665f1c2e8a1b2c3d4e5f6a7b');
    const berlin = encodeCursor(id, searchScope(searchFilters({ city: 'Berlin', minAge: 30 })));
    expect(() => searchFilters({ city: ' berlin ', minAge: 30, limit: 50, cursor: berlin })).not.toThrow();
    expect(() =>
      searchFilters({ city: 'Berlin', minAge: 30, cursor: berlin }, new Date(Date.now() + 86_400_000)),
    ).not.toThrow();
    for (const other of [
      { city: 'Paris', minAge: 30 },
      { city: 'Berlin' },
      { city: 'Berlin', minAge: 30, minViews: 1 },
    ]) {
      expect(() => searchFilters({ ...other, cursor: berlin }), JSON.stringify(other)).toThrow(
        'cursor is not a cursor this API issued',
      );
    }
    expect(() => searchFilters({ cursor: encodeCursor(id, 'admin-subscriptions:x') })).toThrow('cursor is not');
  });

  it('fills in the nearby defaults and starts from the grid point', () => {
    const near = nearbyArea({ lng: 13.404_51, lat: 52.520_04 });
    expect(JSON.stringify(near)).toBe('{"lat":52.52,"lng":13.405,"radiusKm":10,"limit":20}');
    expect(nearbyArea({ limit: 20, radiusKm: 10, lat: 52.520_01, lng: 13.405_2 })).toEqual(near);
  });
});
