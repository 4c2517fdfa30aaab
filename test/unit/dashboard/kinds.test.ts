import { describe, expect, it } from 'vitest';
import { KindDefinitionSchema } from '../../../contracts/kinds.ts';
import { isKnownKind } from '../../../contracts/kinds-table.ts';
import { defaultMetricOf, chartableMetrics } from '../../../dashboard/model/chart-data.ts';
import { kindLabel, kindNoun, unitOf } from '../../../dashboard/model/format.ts';
import { UNKNOWN_KIND_COLOUR, adoptKinds, kindColourOf, kindDisplay } from '../../../dashboard/model/kinds.ts';

const TREE = KindDefinitionSchema.parse({
  id: 'tree_sap',
  name: 'Tree sap flow',
  description: 'sap flow sensors on street trees',
  version: 1,
  fields: [
    { name: 'flow', unit: 'cm/h', type: 'number', min: 0, max: 100, description: 'sap flow' },
    { name: 'wet', unit: 'bool', type: 'boolean', description: 'bark is wet' },
  ],
  display: { headline: 'flow', letter: 'F', colours: [{ value: 0, colour: '#eeeeee' }, { value: 10, colour: '#00aa00' }] },
});

describe('kinds on the dashboard', () => {
  it('shows the built-in kinds from their definitions', () => {
    expect(kindDisplay('air')).toMatchObject({ name: 'Air quality', letter: 'A', headline: 'pm25' });
    expect(kindDisplay('waste').headline).toBe('fill');
    expect(defaultMetricOf('traffic')).toBe('cars');
    expect(kindColourOf('waste', 85)).toBe('#d7301f');
    expect(kindColourOf('waste', 10)).toBe('#41ab5d');
  });

  it('knows a kind once the API listed it: name, letter, headline, colours, units, charts', () => {
    expect(kindDisplay('tree_sap')).toMatchObject({ name: 'tree_sap', letter: 'T', headline: undefined });
    expect(kindColourOf('tree_sap', 50)).toBe(UNKNOWN_KIND_COLOUR);
    adoptKinds([TREE]);
    expect(isKnownKind('tree_sap')).toBe(true);
    expect(kindDisplay('tree_sap')).toMatchObject({ name: 'Tree sap flow', letter: 'F', headline: 'flow' });
    expect(kindLabel('tree_sap')).toBe('Tree sap flow');
    expect(kindNoun('tree_sap')).toBe('tree sap flow sensor');
    expect(unitOf('tree_sap', 'flow')).toBe('cm/h');
    expect(defaultMetricOf('tree_sap')).toBe('flow');
    // A boolean has no line to draw.
    expect(chartableMetrics('tree_sap')).toEqual(['flow', 'battery', 'rssi']);
  });

  it('colours a headline value by the highest stop at or below it', () => {
    adoptKinds([TREE]);
    expect(kindColourOf('tree_sap', -5)).toBe('#eeeeee');
    expect(kindColourOf('tree_sap', 9.9)).toBe('#eeeeee');
    expect(kindColourOf('tree_sap', 10)).toBe('#00aa00');
    expect(kindColourOf('tree_sap', undefined)).toBe(UNKNOWN_KIND_COLOUR);
  });
});
