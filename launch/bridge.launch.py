"""Python entry point for the bridge: `ros2 launch amr_mqtt_bridge bridge.launch.py`.

It only includes bridge.launch.xml (installed next to it), so both file names take the same
arguments (robot_id, config_file, namespace, broker, port, log_level, respawn) and start the
same node. Change the launch description in the XML file, not here.
"""

from pathlib import Path

from launch import LaunchDescription
from launch.actions import IncludeLaunchDescription
from launch_xml.launch_description_sources import XMLLaunchDescriptionSource


def generate_launch_description():
    xml = Path(__file__).resolve().with_name('bridge.launch.xml')
    return LaunchDescription([IncludeLaunchDescription(XMLLaunchDescriptionSource(str(xml)))])
