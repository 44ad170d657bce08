import * as models from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor';
import { PrometheusRule } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { ServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { StatefulSet } from 'kubernetes-models/apps/v1/StatefulSet';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler';
import { CronJob } from 'kubernetes-models/batch/v1/CronJob';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1/NetworkPolicy';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';

/** Schema validators (kubernetes-models: types, required fields, formats) by apiVersion and kind. */
const VALIDATORS: Record<string, new (data: never) => { validate(): void }> = {
  'v1/ConfigMap': ConfigMap,
  'v1/Namespace': Namespace,
  'v1/PersistentVolumeClaim': PersistentVolumeClaim,
  'v1/Secret': Secret,
  'v1/Service': Service,
  'v1/ServiceAccount': ServiceAccount,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'batch/v1/CronJob': CronJob,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};

interface Attribute {
  baseName: string;
  type: string;
}
type Model = { getAttributeTypeMap(): Attribute[] };
const MODELS = models as unknown as Record<string, Model | undefined>;

/**
 * Fields the Kubernetes API does not define, found by walking the object along the types of the
 * official client's models (kubectl --validate=strict would reject them; schemas alone allow them).
 */
function unknownFields(value: unknown, type: string, path: string): string[] {
  if (value === null || typeof value !== 'object') return [];
  const item = /^Array<(.+)>$/.exec(type)?.[1];
  if (item) return (value as unknown[]).flatMap((entry, index) => unknownFields(entry, item, `${path}[${index}]`));
  const mapped = /^\{ \[key: string\]: (.+); \}$/.exec(type)?.[1];
  if (mapped) return Object.entries(value).flatMap(([key, entry]) => unknownFields(entry, mapped, `${path}.${key}`));
  const model = MODELS[type];
  if (!model) return []; // a scalar-like type (IntOrString, Quantity) or free-form object
  const attributes = model.getAttributeTypeMap();
  return Object.entries(value).flatMap(([key, entry]) => {
    const attribute = attributes.find((candidate) => candidate.baseName === key);
    return attribute ? unknownFields(entry, attribute.type, `${path}.${key}`) : [`${path}.${key}`];
  });
}

/**
 * kustomize folds long base64 Secret values over several lines; the API server's decoder skips the line
 * breaks, the schema's "byte" format does not, so they are removed before validation.
 */
function normalised<T extends { kind: string }>(object: T): T {
  const data = (object as { data?: Record<string, string> }).data;
  if (object.kind !== 'Secret' || !data) return object;
  return { ...object, data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, v.replace(/\s+/g, '')])) };
}

/** Schema errors and unknown fields of one rendered object; an empty list means it is valid. */
export function validateObject(object: { apiVersion: string; kind: string; metadata: { name: string } }): string[] {
  const key = `${object.apiVersion}/${object.kind}`;
  const Validator = VALIDATORS[key];
  if (!Validator) return [`${key} ${object.metadata.name}: no schema to validate it against`];
  const problems: string[] = [];
  try {
    new Validator(normalised(object) as never).validate();
  } catch (error) {
    problems.push(`${key} ${object.metadata.name}: ${(error as Error).message}`);
  }
  // Core kinds only: the client's models have no Prometheus Operator types.
  const version = object.apiVersion.split('/').pop()!;
  const modelName = `${version.charAt(0).toUpperCase()}${version.slice(1)}${object.kind}`;
  if (MODELS[modelName]) {
    problems.push(
      ...unknownFields(object, modelName, '').map((field) => `${key} ${object.metadata.name}: unknown field ${field}`),
    );
  }
  return problems;
}
