// Apache ECharts trimmed to what voronka's pages use (site-templates/app.js,
// functions/site/src/charts.rs): bar and line series on a cartesian grid,
// axis tooltip (with its axis pointer), scrollable legend, SVG renderer.
// A page that needs another series type or component must add it here and
// rebuild (see ../README.md).
import * as echarts from 'echarts/core';
import { BarChart, LineChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent } from 'echarts/components';
import { SVGRenderer } from 'echarts/renderers';

echarts.use([BarChart, LineChart, GridComponent, TooltipComponent, LegendComponent, SVGRenderer]);

window.echarts = echarts;
