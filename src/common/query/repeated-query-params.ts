import { getMetadataStorage, type ValidationError } from 'class-validator';

/** Per query DTO: the parameters it declares, and those of them that take several values. */
interface QueryShape {
  declared: ReadonlySet<string>;
  lists: ReadonlySet<string>;
}

const shapes = new WeakMap<object, QueryShape>();

/**
 * Errors for single-value parameters given more than once (`?city=a&city=b`), one per name. Fastify reads a repeated
 * parameter as an array, which each check on the property then refused in its own words ("city must be longer than or
 * equal to 1 ...", "must be a string"), none of them the real mistake. A parameter takes several values when its DTO
 * checks each item of a list (`{ each: true }`, as `interests` and `fields` do). Names the DTO does not declare are
 * left to the whitelist, which refuses them as unknown.
 */
export function repeatedSingleValues(dto: object, query: unknown): ValidationError[] {
  if (typeof query !== 'object' || query === null) return [];
  const { declared, lists } = shapeOf(dto);
  return Object.entries(query).flatMap(([name, value]) =>
    Array.isArray(value) && declared.has(name) && !lists.has(name)
      ? [
          {
            property: name,
            value,
            constraints: { singleValue: `${name} takes one value but was given ${value.length} times` },
            children: [],
          },
        ]
      : [],
  );
}

function shapeOf(dto: object): QueryShape {
  let shape = shapes.get(dto);
  if (!shape) {
    const metadatas = getMetadataStorage().getTargetValidationMetadatas(dto as () => void, '', false, false);
    shape = {
      declared: new Set(metadatas.map((metadata) => metadata.propertyName)),
      lists: new Set(metadatas.filter((metadata) => metadata.each).map((metadata) => metadata.propertyName)),
    };
    shapes.set(dto, shape);
  }
  return shape;
}
