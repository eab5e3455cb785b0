// Charts through ECharts, only the parts used (bars and pies on a canvas).
import { useEffect, useRef } from "react";
import * as echarts from "echarts/core";
import { BarChart, PieChart } from "echarts/charts";
import { GridComponent, LegendComponent, TooltipComponent } from "echarts/components";
import { CanvasRenderer } from "echarts/renderers";

echarts.use([BarChart, PieChart, GridComponent, TooltipComponent, LegendComponent, CanvasRenderer]);

export function Chart({ labels, series, format }: { labels: string[]; series: { name: string; values: number[] }[]; format?: (n: number) => string }) {
  const node = useRef<HTMLDivElement>(null);
  const chart = useRef<echarts.ECharts | null>(null);
  useEffect(() => {
    chart.current = echarts.init(node.current!);
    const resize = () => chart.current?.resize();
    window.addEventListener("resize", resize);
    return () => {
      window.removeEventListener("resize", resize);
      chart.current?.dispose();
    };
  }, []);
  useEffect(() => {
    chart.current?.setOption(
      {
        tooltip: { trigger: "axis", valueFormatter: format ? (v: unknown) => format(Number(v)) : undefined },
        legend: series.length > 1 ? { top: 0 } : undefined,
        grid: { left: 8, right: 8, top: series.length > 1 ? 30 : 10, bottom: 8, containLabel: true },
        xAxis: { type: "category", data: labels, axisLabel: { interval: 0, rotate: labels.length > 6 ? 30 : 0, width: 100, overflow: "truncate" } },
        yAxis: { type: "value" },
        series: series.map((s) => ({ type: "bar", name: s.name, data: s.values })),
      },
      true
    );
  }, [labels, series, format]);
  return <div ref={node} className="chart" role="img" aria-label={series.map((s) => s.name).join(", ")} />;
}
