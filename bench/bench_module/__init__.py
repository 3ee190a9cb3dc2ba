"""Benchmark-only plugin: serves route B, the signed-in dashboard rendered from memory.

Load it with ``PORTAL_PLUGINS=bench.bench_module`` (run from the project root). Never enable it
for a center and never install it in production: route B shows the bench user's dashboard
without asking who is calling.
"""

from portal.plugin_api import PluginInfo

PLUGIN_INFO = PluginInfo(
    name="bench_module",
    label="基准测试",
    description="仅供压测：以内存数据渲染与工作台同尺寸的页面（路由 B）。",
)
