/**
 * docker-compose.yml wires monitoring to what the worker really does: its healthcheck asks the worker's
 * /readyz, Prometheus scrapes the ports the worker and the Temporal server serve metrics on and loads the
 * alert rules, and Grafana's provisioned data source is the one the dashboard refers to.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';

const root = join(__dirname, '../..');
const yaml = (path: string) => parseYaml(readFileSync(join(root, path), 'utf8'));
const compose = yaml('docker-compose.yml');
const worker = compose.services['segflow-worker'];
const portOf = (address: string) => address.split(':').pop();

it('the worker healthcheck asks /readyz on the health address', () => {
  const healthPort = portOf(worker.environment.SEGFLOW_HEALTH_ADDRESS);
  expect(worker.healthcheck.test.join(' ')).toContain(`http://127.0.0.1:${healthPort}/readyz`);
});

it('Prometheus scrapes every worker replica and the Temporal server, with the alert rules', () => {
  const prometheus = compose.services.prometheus;
  expect(prometheus.volumes).toContain('./deploy/prometheus:/etc/prometheus/segflow:ro');
  const config = yaml('deploy/prometheus/prometheus.yml');
  const jobs = Object.fromEntries(config.scrape_configs.map((job: { job_name: string }) => [job.job_name, job]));
  expect(jobs['segflow-worker'].dns_sd_configs[0]).toMatchObject({
    names: ['segflow-worker'],
    port: Number(portOf(worker.environment.SEGFLOW_METRICS_ADDRESS)),
  });
  expect(jobs['temporal-server'].static_configs[0].targets).toEqual([
    `temporal:${portOf(compose.services.temporal.environment.PROMETHEUS_ENDPOINT)}`,
  ]);
  expect(config.rule_files).toEqual(['/etc/prometheus/segflow/alerts.yml']);
});

it('Grafana provisions the data source and the dashboard', () => {
  const grafana = compose.services.grafana;
  expect(grafana.volumes).toContain('./deploy/grafana/dashboards:/var/lib/grafana/dashboards:ro');
  const datasource = yaml('deploy/grafana/provisioning/datasources/prometheus.yml').datasources[0];
  expect(datasource.url).toBe('http://prometheus:9090');
  const dashboard = JSON.parse(readFileSync(join(root, 'deploy/grafana/dashboards/segflow.json'), 'utf8'));
  const uids = new Set(
    dashboard.panels.flatMap((p: { datasource: { uid: string }; targets: Array<{ datasource: { uid: string } }> }) => [
      p.datasource.uid,
      ...p.targets.map((t) => t.datasource.uid),
    ]),
  );
  expect([...uids]).toEqual([datasource.uid]);
  expect(yaml('deploy/grafana/provisioning/dashboards/segflow.yml').providers[0].options.path).toBe('/var/lib/grafana/dashboards');
});
