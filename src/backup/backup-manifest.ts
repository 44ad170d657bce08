/** One file of a dump: path relative to the backup, size and SHA-256 of the stored (gzipped) bytes. */
export interface ManifestFile {
  path: string;
  bytes: number;
  sha256: string;
}

export interface ManifestCollection {
  name: string;
  documents: number;
  /**
   * Documents left out (gridfs-completeness.ts): GridFS file records of uploads still under way when they were read
   * (the dump holds not all their chunks, or no hash), and pending-write records of uploads the dump holds whole.
   * Absent when none were.
   */
  omitted?: number;
  data: ManifestFile;
  metadata: ManifestFile;
}

/** `manifest.json` at the top of every complete backup. */
export interface BackupManifest {
  id: string;
  /** The database that was dumped; its files are under `<database>/`, as mongodump lays them out. */
  database: string;
  appVersion: string;
  startedAt: string;
  finishedAt: string;
  collections: ManifestCollection[];
}

export const MANIFEST_FILE = 'manifest.json';

export function totalBytes(manifest: BackupManifest): number {
  return manifest.collections.reduce((sum, c) => sum + c.data.bytes + c.metadata.bytes, 0);
}

export function totalDocuments(manifest: BackupManifest): number {
  return manifest.collections.reduce((sum, c) => sum + c.documents, 0);
}

export function totalOmitted(manifest: BackupManifest): number {
  return manifest.collections.reduce((sum, c) => sum + (c.omitted ?? 0), 0);
}
